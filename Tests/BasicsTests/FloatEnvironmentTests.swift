// Flush-to-zero: a thread that sets it turns subnormal results into zero, a thread that does not
// keeps them, and the threads it creates afterwards inherit it.
import Basics
import Foundation
import Testing

struct FloatEnvironmentTests {
    /// Half the smallest normal float, computed at run time (a subnormal unless flushed).
    static func halfSmallestNormal(_ x: Float) -> Float { x * 0.5 }

    /// Runs `body` on a new thread and returns its result.
    static func onNewThread<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        nonisolated(unsafe) var result: T?
        let done = DispatchSemaphore(value: 0)
        let t = Thread {
            result = body()
            done.signal()
        }
        t.start()
        done.wait()
        return result!
    }

    @Test func flushedThreadsTurnSubnormalsIntoZero() throws {
        let tiny = [Float.leastNormalMagnitude]
        let (kept, flags) = Self.onNewThread { (Self.halfSmallestNormal(tiny[0]), FloatEnvironment.flushesSubnormals) }
        // A thread that does not flush keeps the subnormal (whether this one flushes depends on
        // the thread that created it, which the test does not control).
        #expect(flags || kept.isSubnormal)
        let (flushed, inherited) = Self.onNewThread { () -> (Float, Bool) in
            guard FloatEnvironment.flushSubnormals() else { return (0, true) }
            let child = Self.onNewThread { FloatEnvironment.flushesSubnormals }
            return (Self.halfSmallestNormal(tiny[0]), child)
        }
        #expect(flushed == 0)
        #expect(inherited, "a thread created by a flushing thread flushes too")
    }
}
