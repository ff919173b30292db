// Training progress on stderr. On a terminal one line is redrawn in place
// ("step 120/1000  loss 3.214  lr 2.9e-03  12.3k tok/s  ETA 3m10s"); evaluations print a line
// of their own. Without a terminal (pipes, logs, CI) every call prints one plain line.
import Basics
import Foundation

public final class ConsoleSink: MetricSink {
    private let totalSteps: Int
    private let interactive: Bool
    private let start = Date()
    private var firstStep: Int?
    private var lineOpen = false

    /// - Parameters:
    ///   - totalSteps: the run's last step, for the ETA.
    ///   - interactive: redraw one line in place (default: stderr is a terminal).
    public init(totalSteps: Int, interactive: Bool = ProgressBar.terminalAttached) {
        self.totalSteps = totalSteps
        self.interactive = interactive
    }

    public func log(step: Int, metrics: [String: Double]) {
        if let loss = metrics[MetricKey.valLoss] {
            var text = String(format: "step %d/%d  val loss %.4f", step, totalSteps, loss)
            if let ppl = metrics[MetricKey.valPerplexity] { text += String(format: "  ppl %.2f", ppl) }
            if let bpb = metrics[MetricKey.valBPB] { text += String(format: "  bpb %.4f", bpb) }
            emit(text, permanent: true)
        }
        guard let loss = metrics[MetricKey.trainLoss] else { return }
        if firstStep == nil { firstStep = step }
        var text = String(format: "step %d/%d  loss %.4f", step, totalSteps, loss)
        if let lr = metrics[MetricKey.trainLR] { text += String(format: "  lr %.2e", lr) }
        if let norm = metrics[MetricKey.trainGradNorm] { text += String(format: "  |g| %.3f", norm) }
        if let tps = metrics[MetricKey.tokensPerSecond] { text += "  " + Format.count(Int64(tps)) + " tok/s" }
        if let mfu = metrics[MetricKey.trainMFU] { text += String(format: "  MFU %.1f%%", mfu * 100) }
        let elapsed = Date().timeIntervalSince(start)
        let done = step - (firstStep ?? step) + 1
        if done > 0 && step < totalSteps {
            text += "  ETA " + Format.duration(elapsed / Double(done) * Double(totalSteps - step))
        }
        emit(text, permanent: !interactive)
    }

    public func finish(error: Error?) {
        if lineOpen { writeStderr("\n") }
        lineOpen = false
    }

    private func emit(_ text: String, permanent: Bool) {
        if interactive {
            writeStderr("\r\u{1B}[2K" + text + (permanent ? "\n" : ""))
            lineOpen = !permanent
        } else {
            writeStderr(text + "\n")
        }
    }
}
