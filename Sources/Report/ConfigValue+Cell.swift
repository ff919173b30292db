// How a leaf of a JSON document (Basics' ConfigValue: a stored run config, an import line) shows
// in a report table.
import Basics

extension ConfigValue {
    var cell: Cell {
        switch self {
        case .null: return .missing
        case .bool(let b): return .text(b ? "true" : "false")
        case .int(let i): return .int(Int64(i))
        case .double(let d): return .number(d, .shortest)
        case .string(let s): return .text(s)
        case .array, .table: return .missing
        }
    }
}
