// Training progress on stderr. On a terminal one line is redrawn in place
// ("step 120/1000  loss 3.214  lr 2.9e-03  12.3k tok/s  ETA 3m10s"); evaluations print a line
// of their own. Without a terminal (pipes, logs, CI) every call prints one plain line.
import Basics
import Foundation

public final class ConsoleSink: MetricSink {
    private let totalSteps: Int
    private let interactive: Bool
    /// The step and time of the first progress line: the ETA is the rate since then, so it leaves
    /// out the set-up before the first step and, after a resume, the steps trained before it.
    private var anchor: (step: Int, time: Date)?
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
        let now = Date()
        if anchor == nil { anchor = (step, now) }
        var text = String(format: "step %d/%d  loss %.4f", step, totalSteps, loss)
        if let lr = metrics[MetricKey.trainLR] { text += String(format: "  lr %.2e", lr) }
        if let norm = metrics[MetricKey.trainGradNorm] { text += String(format: "  |g| %.3f", norm) }
        if let tps = metrics[MetricKey.tokensPerSecond] { text += "  " + Format.count(Int64(tps)) + " tok/s" }
        if let mfu = metrics[MetricKey.trainMFU] { text += String(format: "  MFU %.1f%%", mfu * 100) }
        if let anchor,
            let eta = Self.eta(
                from: anchor.step, at: step, of: totalSteps, seconds: now.timeIntervalSince(anchor.time))
        {
            text += "  ETA " + Format.duration(eta)
        }
        emit(text, permanent: !interactive)
    }

    /// Seconds left to `total` when the steps after `first` up to `step` took `seconds`; nil
    /// before a second progress line (no rate yet) and at the end. The first line's step is no
    /// start: it follows `log_every` steps and the set-up (or, resumed, every step before it).
    static func eta(from first: Int, at step: Int, of total: Int, seconds: Double) -> Double? {
        guard step > first, step < total, seconds >= 0 else { return nil }
        return seconds / Double(step - first) * Double(total - step)
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
