// The merge loop's threads. A training run at V = 32768 makes some 32,000 merge steps, most of
// them touching a few hundred words: waking pool threads for each (`parallelFor`, tens of
// microseconds) costs more than the step. So the loop keeps its helpers awake for its whole
// run: they spin on one atomic ticket (yielding the core now and then) and join a step within
// a fraction of a microsecond. A step is cut into chunks that any thread claims from the
// ticket, the calling thread too, so a helper that is late (or descheduled on a busy machine)
// only means the caller runs more chunks itself. Chunk c always uses the same worker state,
// whoever runs it, so the results do not depend on which thread ran what.
import Basics
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `threads - 1` helper threads that stay ready for many small parallel steps in a row.
final class MergeTeam: @unchecked Sendable {
    let threads: Int
    /// generation << 32 | chunk count << 16 | next chunk to claim.
    private let ticket = Atomic<UInt64>(0)
    /// Chunks of the current step that have run.
    private let finished = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// The current step's work (only read by a thread holding a claimed chunk of it).
    private var body: ((Int) -> Void)?
    private var join: (() -> Void)?

    /// The most chunks one step may have.
    static let maxChunks = 0xFFFF

    init(threads: Int) {
        self.threads = max(1, threads)
        if self.threads > 1 {
            join = startThreads(self.threads - 1, name: "bpe-merge") { [self] _ in helperLoop() }
        }
    }

    /// Stops the helpers and waits for them to leave; call once, when the steps are done.
    func finish() {
        stopping.store(true, ordering: .releasing)
        join?()
        join = nil
    }

    /// Runs `body(c)` for c in 0..<chunks on the team and returns when every chunk has run.
    func run(_ chunks: Int, _ body: (Int) -> Void) {
        precondition(chunks <= MergeTeam.maxChunks, "at most \(MergeTeam.maxChunks) chunks per step")
        if chunks <= 1 || join == nil {
            for c in 0..<chunks { body(c) }
            return
        }
        withoutActuallyEscaping(body) { body in
            self.body = body
            finished.store(0, ordering: .relaxed)
            let generation = (ticket.load(ordering: .relaxed) >> 32) &+ 1
            ticket.store(generation << 32 | UInt64(chunks) << 16, ordering: .releasing)
            claimChunks(of: generation)
            while finished.load(ordering: .acquiring) < chunks {}
            self.body = nil
        }
    }

    /// Claims and runs chunks of step `generation` until none is left.
    private func claimChunks(of generation: UInt64) {
        var t = ticket.load(ordering: .acquiring)
        while t >> 32 == generation && t & 0xFFFF < (t >> 16) & 0xFFFF {
            let (exchanged, original) = ticket.compareExchange(
                expected: t, desired: t + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                body!(Int(t & 0xFFFF))
                finished.wrappingAdd(1, ordering: .releasing)
                t = ticket.load(ordering: .acquiring)
            } else {
                t = original
            }
        }
    }

    private func helperLoop() {
        var seen = ticket.load(ordering: .acquiring) >> 32
        var idle = 0
        while !stopping.load(ordering: .acquiring) {
            let generation = ticket.load(ordering: .acquiring) >> 32
            if generation != seen {
                seen = generation
                claimChunks(of: generation)
                idle = 0
            } else {
                idle += 1
                if idle > 2000 { sched_yield() }  // between steps' bursts, let other work run
            }
        }
    }
}
