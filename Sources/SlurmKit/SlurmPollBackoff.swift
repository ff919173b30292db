/// How long the head waits between two squeue polls: 2, 4, 8 ... seconds, capped; back to the
/// first delay after a submission or a user command (so `tracker status` sees fresh states).
public struct SlurmPollBackoff: Hashable, Sendable {
    public let first: Duration
    public let cap: Duration
    public private(set) var current: Duration

    /// A `first` below 1 ms counts as 1 ms, a `cap` below `first` as `first`.
    public init(first: Duration = .seconds(2), cap: Duration = .seconds(60)) {
        self.first = max(first, .milliseconds(1))
        self.cap = max(cap, self.first)
        self.current = self.first
    }

    /// The delay before the next poll; each call doubles the following one, up to `cap`.
    public mutating func next() -> Duration {
        let delay = current
        current = min(current * 2, cap)
        return delay
    }

    /// Starts over from `first` (call it after a submission or a user command).
    public mutating func reset() { current = first }
}

extension Duration {
    /// The duration in seconds, as `Thread.sleep` and `DispatchTime` take it.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
