// Reading experiments/NAME.toml: TOML -> the Scheduler's ConfigValue tree -> ExperimentSpec, then
// every resolved run config is validated the way `tracker train --run` will read it (its JSON,
// decoded by the training config decoder), so a typo or an out-of-range value fails when the
// experiment is enqueued, not in a worker twenty minutes later.
import Foundation
import Scheduler
import Store
import TOMLKit

enum ExperimentFile {
    /// Loads and validates an experiment file; the experiment name is the file stem.
    static func load(path: String) throws -> (spec: ExperimentSpec, plans: [ExperimentSpec.Plan]) {
        let text = try TOMLText.read(path: path, what: "experiment file")
        let table: TOMLTable
        do {
            table = try TOMLText.parse(text)
        } catch let e as CLIError {
            throw CLIError(description: "\(path): \(e.description)")
        } catch {
            throw CLIError(description: "\(path) is not valid TOML: \(error)")
        }
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let spec = try ExperimentSpec(name: name, tree: try convert(table, path: ""))
        let plans = try spec.plans()
        for plan in plans {
            do {
                try validateRunConfig(json: plan.json)
            } catch {
                throw CLIError(description: "\(path), run '\(plan.name)': \(error)")
            }
        }
        return (spec, plans)
    }

    /// Decodes and validates one resolved run config exactly as `tracker train --run` will.
    static func validateRunConfig(json: String) throws {
        _ = try TrainConfigFile.decode(json: Data(json.utf8))
    }

    /// TOML -> ConfigValue. Dates and times are not run settings and are refused.
    static func convert(_ value: TOMLValueConvertible, path: String) throws -> Scheduler.ConfigValue {
        switch value.type {
        case .table:
            let t = value.table!
            var out: [String: Scheduler.ConfigValue] = [:]
            for key in t.keys {
                out[key] = try convert(t[key]!, path: path.isEmpty ? key : path + "." + key)
            }
            return .table(out)
        case .array:
            return .array(try value.array!.enumerated().map { try convert($0.element, path: "\(path)[\($0.offset)]") })
        case .string: return .text(value.string!)
        case .int: return .int(Int64(value.int!))
        case .double: return .real(value.double!)
        case .bool: return .bool(value.bool!)
        case .date, .time, .dateTime:
            throw CLIError(description: "\(path): dates and times are not accepted in run configs; use a string")
        }
    }
}
