// The head's answer to a Slurm task waiting at an ASHA rung: `spool/RUN.rung-K` next to the
// run's spool file, written atomically by the head (the only SQLite writer) once it recorded the
// task's `rung` event with TrackerDB.recordRung, and read by the task, which polls for it. The
// first line is `continue` or `prune`, the second the rung's record as JSON.
import Basics
import Foundation

public enum RungDecisionFile {
    /// The decision file of rung `rung` for the run whose spool file is `spoolPath`.
    public static func path(spoolPath: String, rung: Int64) -> String {
        let base = spoolPath.hasSuffix(".jsonl") ? String(spoolPath.dropLast(6)) : spoolPath
        return "\(base).rung-\(rung)"
    }

    /// The file's bytes for `record`.
    public static func contents(_ record: RungRecord) throws -> [UInt8] {
        Array((record.pruned ? "prune\n" : "continue\n").utf8) + Array(try Spool.encoder.encode(record)) + [0x0A]
    }

    /// Writes the decision `record` holds (atomically: a task never reads half of it).
    public static func write(_ record: RungRecord, spoolPath: String) throws {
        try AtomicFile.save(try contents(record), to: path(spoolPath: spoolPath, rung: record.rung))
    }

    /// The decision for rung `rung`, nil while the head has not written it.
    public static func read(spoolPath: String, rung: Int64) throws -> RungRecord? {
        let path = path(spoolPath: spoolPath, rung: rung)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try parse(data, path: path)
    }

    /// Parses a decision file's bytes; throws when they are not a decision.
    public static func parse(_ data: Data, path: String) throws -> RungRecord {
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: true)
        let verdict = lines.first.map { String(decoding: $0, as: UTF8.self) }
        guard lines.count == 2, verdict == "continue" || verdict == "prune",
            let record = try? Spool.decoder().decode(RungRecord.self, from: Data(lines[1])),
            record.pruned == (verdict == "prune")
        else {
            throw StoreError.cannotRead(
                path: path, reason: "not a rung decision (continue or prune, then its record): remove it")
        }
        return record
    }
}
