// Turns SIGINT/SIGTERM into a flag a polling loop can read, instead of the default "die now", so
// a worker can forward the signal to its run, put the run back in the queue and exit cleanly.
// Dispatch signal sources are used because a C signal handler may not touch Swift state.
import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public final class SignalWatcher: @unchecked Sendable {
    private let lock = NSLock()
    private var first: Int32?
    private var sources: [DispatchSourceSignal] = []

    /// Starts watching `signals` (their default action is replaced until the process exits).
    public init(_ signals: [Int32] = [SIGINT, SIGTERM]) {
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
        lock.unlock()
    }

    /// The first signal received, if any.
    public var received: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return first
    }
}
