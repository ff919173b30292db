// Persistent worker threads for the trainer: each `run` hands the same job to every worker
// (with its index) and waits for all of them. Threads live as long as the pool, so a training
// step costs two semaphore hand-offs per worker instead of a thread start.
import Basics
import Foundation

public final class WorkerPool: @unchecked Sendable {
    /// What the threads share; they hold it (not the pool), so the pool's deinit can stop them.
    private final class Shared: @unchecked Sendable {
        var job: ((Int) -> Void)?
        var stopping = false
        let start: [DispatchSemaphore]
        let done = DispatchSemaphore(value: 0)
        let exited = DispatchSemaphore(value: 0)
        init(count: Int) { start = (0..<count).map { _ in DispatchSemaphore(value: 0) } }
    }

    public let count: Int
    private let shared: Shared

    public init(threads: Int, name: String = "tracker-train") {
        precondition(threads >= 1)
        count = threads
        let shared = Shared(count: threads)
        self.shared = shared
        for i in 0..<threads {
            let t = Thread {
                FloatEnvironment.flushSubnormals()
                while true {
                    shared.start[i].wait()
                    if shared.stopping { break }
                    shared.job!(i)
                    shared.done.signal()
                }
                shared.exited.signal()
            }
            t.name = "\(name)-\(i)"
            t.stackSize = 8 << 20
            t.start()
        }
    }

    deinit {
        shared.stopping = true
        for s in shared.start { s.signal() }
        for _ in 0..<count { shared.exited.wait() }
    }

    /// Runs `body(worker)` on every worker thread and returns when all have finished.
    /// The semaphores order memory: writes before `run` are visible to the workers, and the
    /// workers' writes are visible after it returns.
    public func run(_ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            shared.job = body
            for s in shared.start { s.signal() }
            for _ in 0..<count { shared.done.wait() }
            shared.job = nil
        }
    }
}
