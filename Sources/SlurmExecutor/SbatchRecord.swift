// The head's own timestamps of each sbatch call, one JSON line per call in the submission
// folder's `sbatch.jsonl` (written only by the head): when it called sbatch and when sbatch
// answered, with the script and the job id. With the tasks' spool events (start, training, end)
// and the store's record of each result, they give tracker's own overhead per Slurm run
// (bench/slurm_overhead.sh).
import Foundation

public struct SbatchRecord: Codable, Sendable, Equatable {
    /// The script submitted, relative to the submission folder (e.g. `array-0.sh`).
    public var script: String
    /// The (array) job id sbatch answered.
    public var job: Int
    /// Unix seconds when the head called sbatch.
    public var called: Double
    /// Unix seconds when sbatch's answer was read.
    public var answered: Double

    public init(script: String, job: Int, called: Double, answered: Double) {
        self.script = script
        self.job = job
        self.called = called
        self.answered = answered
    }

    public static func path(sweepDir: String) -> String { sweepDir + "/sbatch.jsonl" }

    /// Appends this record as one line to the submission folder's `sbatch.jsonl`.
    public func append(sweepDir: String) throws {
        let path = Self.path(sweepDir: sweepDir)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            let line = try encoder.encode(self) + Data("\n".utf8)
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: nil)  // a failure: the open below says so
            }
            let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? file.close() }
            try file.seekToEnd()
            try file.write(contentsOf: line)
        } catch {
            throw SlurmExecutorError.io(
                path: path, reason: "cannot record the sbatch call: \(error.localizedDescription)")
        }
    }
}
