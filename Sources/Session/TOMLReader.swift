// The one place TOML is parsed: TOMLKit's table -> Basics' ConfigValue. Run configs, experiment
// files and the nightly config all go through here, so they accept the same values.
import Basics
import Foundation
import TOMLKit

public enum TOMLReader {
    /// Reads and parses a TOML file; `what` names it in errors ("config file", "nightly config").
    public static func read(path: String, what: String, hint: String = "") throws -> ConfigValue {
        try parse(try TOMLText.read(path: path, what: what, hint: hint), file: path)
    }

    /// Parses a TOML document; `file` names it in errors.
    public static func parse(_ text: String, file: String) throws -> ConfigValue {
        let table: TOMLTable
        do {
            // toml++ stops at a NUL and aborts instead of reporting on a few malformed headers:
            // refuse them first.
            try TOMLText.checkControlCharacters(text)
            try TOMLText.checkTableHeaders(text)
            table = try TOMLTable(string: text)
        } catch let e as TOMLText.Refused {
            throw SessionError.notTOML(path: file, reason: e.description)
        } catch let e as TOMLParseError {
            throw SessionError.notTOML(path: file, reason: "\(e.description) (\(e.source.begin))")
        } catch {
            throw SessionError.notTOML(path: file, reason: "\(error)")
        }
        do {
            return try convert(table, path: "")
        } catch {
            throw SessionError.badFile(path: file, message: "\(error)")
        }
    }

    /// TOML -> ConfigValue. Dates and times are not run settings and are refused.
    static func convert(_ value: TOMLValueConvertible, path: String) throws -> ConfigValue {
        switch value.type {
        case .table:
            let t = value.table!
            var out: [String: ConfigValue] = [:]
            for key in t.keys {
                out[key] = try convert(t[key]!, path: path.isEmpty ? key : path + "." + key)
            }
            return .table(out)
        case .array:
            return .array(try value.array!.enumerated().map { try convert($0.element, path: "\(path)[\($0.offset)]") })
        case .string: return .string(value.string!)
        case .int: return .int(value.int!)
        case .double: return .double(value.double!)
        case .bool: return .bool(value.bool!)
        case .date, .time, .dateTime:
            throw ConfigError.badKey(key: path, reason: "dates and times are not accepted in configs; use a string")
        }
    }
}
