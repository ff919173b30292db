// The training session's MetricSink for a queued run (`tracker train --run ID`): every log call goes to the run's
// MetricWriter (an in-memory append; a background thread writes batches to the database), so a
// training step never waits for SQLite. It also stops an orphaned trainer: when the worker that
// started the run has died, the run's lease will expire and the run will be resumed elsewhere,
// so this process flushes and exits instead of racing the resumed copy.
import Basics
import Foundation
import Scheduler
import Store
import Training

#if canImport(Glibc)
    import Glibc
#endif

public final class StoreSink: MetricSink {
    public let context: RunContext
    public let writer: MetricWriter
    private var closed = false

    public init(context: RunContext, writer: MetricWriter? = nil) {
        self.context = context
        self.writer = writer ?? context.makeMetricWriter()
    }

    public func log(step: Int, metrics: [String: Double]) {
        if closed { return }
        if context.workerIsGone {
            writeStderr(
                "run \(context.runId): its worker (pid \(context.workerPid ?? 0)) is gone; stopping so the run can be resumed from its last checkpoint\n"
            )
            finish(error: nil)
            exit(75)
        }
        writer.log(runId: context.runId, step: Int64(step), metrics: metrics)
    }

    /// Writes what is buffered; a write error is reported on stderr (the run's log), not thrown:
    /// losing metrics must not turn a finished training into a failed run.
    public func finish(error: Error?) {
        if closed { return }
        closed = true
        do {
            try writer.close()
        } catch {
            writeStderr("warning: some metrics of run \(context.runId) were not written: \(error)\n")
        }
    }
}
