// SIGINT and SIGTERM during `tracker train`: the first one asks the training loop to checkpoint
// and stop after the current step (a worker forwards its own SIGTERM here, then resumes the run
// elsewhere); a second one exits at once.
import Basics
import Dispatch
import Foundation

final class TrainStopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var received: Int32 = 0
    private var sources: [DispatchSourceSignal] = []

    /// The signal that arrived, or 0.
    var signal: Int32 {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    /// Starts listening for SIGINT and SIGTERM (their default actions are replaced).
    func install() {
        for sig in [SIGINT, SIGTERM] {
            Foundation.signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.arrived(sig) }
            source.resume()
            sources.append(source)
        }
    }

    private func arrived(_ sig: Int32) {
        lock.lock()
        let first = received == 0
        if first { received = sig }
        lock.unlock()
        if first {
            writeStderr(
                "\nsignal \(sig): checkpointing after this step, then stopping (send it again to stop at once)\n")
        } else {
            exit(128 + sig)
        }
    }
}
