// Turns SIGINT/SIGTERM into a flag a polling loop can read, instead of the default "die now", so
// a worker can forward the signal to its run, put the run back in the queue and exit cleanly, and
// a training run can checkpoint and stop after its current step. The one signal watcher of the
// package (the CLI's commands and the training session use it). Dispatch signal sources are used
// because a C signal handler may not touch Swift state.
import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public final class SignalWatcher: @unchecked Sendable {
    private let lock = NSLock()
    private var first: Int32?
    private var count = 0
    private var sources: [DispatchSourceSignal] = []
    private let onSignal: (@Sendable (_ signal: Int32, _ count: Int) -> Void)?

    /// Starts watching `signals` (their default action is replaced until the process exits).
    /// `onSignal`, if given, is called on a background queue for every arrival with its count
    /// (1 for the first signal, 2 for the second, ...).
    public init(
        _ signals: [Int32] = [SIGINT, SIGTERM], onSignal: (@Sendable (_ signal: Int32, _ count: Int) -> Void)? = nil
    ) {
        self.onSignal = onSignal
        for s in signals {
            Glibc.signal(s, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: s, queue: .global())
            source.setEventHandler { [weak self] in self?.record(s) }
            source.resume()
            sources.append(source)
        }
    }

    private func record(_ s: Int32) {
        lock.lock()
        if first == nil { first = s }
        count += 1
        let n = count
        lock.unlock()
        onSignal?(s, n)
    }

    /// The first signal received, if any.
    public var received: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return first
    }
}
