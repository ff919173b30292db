// The one place a config tree becomes runParam rows: every leaf of the run's ConfigValue as a
// typed ParamValue (the table's num/text columns), arrays as one leaf holding their canonical JSON.
import Basics

extension ConfigValue {
    /// Every leaf as (dotted key, typed value); arrays are one leaf holding their canonical JSON,
    /// nulls are left out.
    public func params() throws -> [String: ParamValue] {
        var out: [String: ParamValue] = [:]
        try flatten(prefix: "", into: &out)
        return out
    }

    private func flatten(prefix: String, into out: inout [String: ParamValue]) throws {
        switch self {
        case .null: break
        case .int(let v): out[prefix] = .int(Int64(v))
        case .double(let v): out[prefix] = .real(v)
        case .bool(let v): out[prefix] = .bool(v)
        case .string(let v): out[prefix] = .text(v)
        case .array: out[prefix] = .text(try canonicalJSON())
        case .table(let t):
            for (k, v) in t { try v.flatten(prefix: prefix.isEmpty ? k : prefix + "." + k, into: &out) }
        }
    }
}
