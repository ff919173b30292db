// The one way the code runs work on several cores: `parallelFor` over DispatchQueue.concurrentPerform.
// Swift 6 rejects capturing raw pointers in @Sendable closures, so pointers cross threads inside
// `SendablePointer`, whose users promise that threads touch disjoint slices.
import Dispatch
import Foundation

/// A raw pointer that may be sent across threads; the user guarantees disjoint access.
public struct SendablePointer<T>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<T>
    public init(_ base: UnsafeMutablePointer<T>) { self.base = base }
    @inlinable public subscript(i: Int) -> T {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
}

/// A box that lets worker threads write disjoint result slots.
public final class ResultSlots<T>: @unchecked Sendable {
    private var slots: [T?]
    public init(count: Int) { slots = Array(repeating: nil, count: count) }
    public subscript(i: Int) -> T? {
        get { slots[i] }
        set { slots[i] = newValue }
    }
    public var values: [T?] { slots }
}

public enum Parallelism {
    /// Worker threads to use: `TRACKER_THREADS` if set, else the number of active cores.
    public static var defaultThreads: Int {
        if let s = ProcessInfo.processInfo.environment["TRACKER_THREADS"], let n = Int(s), n > 0 {
            return n
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }
}

/// Runs `body(i)` for i in 0..<count on up to `threads` threads and waits for all of them.
public func parallelFor(_ count: Int, threads: Int = Parallelism.defaultThreads, _ body: (Int) -> Void) {
    if count <= 0 { return }
    if threads <= 1 || count == 1 {
        for i in 0..<count { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        let box = UncheckedBox(body)
        DispatchQueue.concurrentPerform(iterations: count) { i in box.value(i) }
    }
}

private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
