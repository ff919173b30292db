// Small helpers shared by the subcommands: JSON output and turning library errors into one line.
import ArgumentParser
import Basics
import Foundation
import Scheduler
import Store

func prettyJSON<T: Encodable>(_ value: T) throws -> String {
    let e = JSONText.encoder(pretty: true)
    e.nonConformingFloatEncodingStrategy = .convertToString(
        positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try e.encode(value), as: UTF8.self)
}

/// An error already worded for the user; ArgumentParser prints "Error: <message>" and exits 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
}

/// Runs `body`, turning any error into a one-line `CLIError` with the library's own message.
func withCLIErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let e as CLIError {
        throw e
    } catch let e as CustomStringConvertible {
        throw CLIError(description: e.description)
    } catch {
        throw CLIError(description: error.localizedDescription)
    }
}

/// The runs `targets` name, as `tracker cancel` and `tracker delete` take them: each a run id, or
/// an experiment's name for those of its runs that `fromExperiment` keeps. Each run once, by id.
func runTargets(
    _ targets: [String], in db: TrackerDB, fromExperiment keep: (RunRecord) -> Bool = { _ in true }
) throws -> [RunRecord] {
    var runs: [Int64: RunRecord] = [:]
    for t in targets {
        if let id = Int64(t) {
            guard let run = try db.run(id: id) else { throw SchedulerError.noSuchRun(id) }
            runs[id] = run
        } else {
            guard let e = try db.experiment(named: t) else { throw SchedulerError.noSuchExperiment(t) }
            for run in try db.runs(experimentId: e.id!) where keep(run) { runs[run.id!] = run }
        }
    }
    return runs.keys.sorted().map { runs[$0]! }
}
