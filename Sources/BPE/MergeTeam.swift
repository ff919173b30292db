// The merge loop's threads. A training run at V = 32768 makes some 32,000 merge steps, most of
// them touching a few hundred words: waking pool threads for each (`parallelFor`, tens of
// microseconds) costs more than the step. So the loop keeps its helpers ready for its whole
// run: after a step they spin on one atomic ticket for a while (yielding the core now and
// then) and join the next step within a fraction of a microsecond; when no step comes for
// `MergeTeam.spinNanoseconds` (late in training most steps are small and run on the calling
// thread alone), they sleep on a condition variable, so they do not burn a core that other
// work could use, and the next parallel step wakes them. A step is cut into chunks that any
// thread claims from the ticket, the calling thread too, so a helper that is late (waking up,
// or descheduled on a busy machine) only means the caller runs more chunks itself. Chunk c
// always uses the same worker state, whoever runs it, so the results do not depend on which
// thread ran what.
import Basics
import Glibc
import Synchronization

/// `threads - 1` helper threads that stay ready for many small parallel steps in a row.
final class MergeTeam: @unchecked Sendable {
    let threads: Int
    /// generation << 32 | chunk count << 16 | next chunk to claim.
    private let ticket = Atomic<UInt64>(0)
    /// Chunks of the current step that have run.
    private let finished = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// Helpers asleep on `wake` (or about to be): a new step or `finish` wakes them.
    private let sleepers = Atomic<Int>(0)
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// The current step's work (only read by a thread holding a claimed chunk of it).
    private var body: ((Int) -> Void)?
    private var join: (() -> Void)?

    /// The most chunks one step may have.
    static let maxChunks = 0xFFFF
    /// How long a helper waits for the next step awake before it sleeps.
    static let spinNanoseconds = 200_000

    init(threads: Int) {
        self.threads = max(1, threads)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        if self.threads > 1 {
            join = startThreads(self.threads - 1, name: "bpe-merge") { [self] _ in helperLoop() }
        }
    }

    /// Stops the helpers and waits for them to leave; call once, when the steps are done.
    func finish() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        wakeSleepers()
        join?()
        join = nil
    }

    deinit {
        pthread_cond_destroy(wake)
        pthread_mutex_destroy(mutex)
        wake.deallocate()
        mutex.deallocate()
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
            publish(chunks)
            wait()
        }
    }

    /// Hands `body(0)` to a helper and returns at once, so that the caller can do other work
    /// meanwhile; `wait()` returns once it has run (the caller runs it itself if no helper has
    /// taken it yet). Only for a team with helpers.
    func start(_ body: @escaping (Int) -> Void) {
        precondition(join != nil, "start needs a team with helpers")
        self.body = body
        publish(1)
    }

    /// Runs the chunks of the current step that no thread has taken yet and returns when every
    /// chunk has run.
    func wait() {
        let t = ticket.load(ordering: .relaxed)
        claimChunks(of: t >> 32)
        while finished.load(ordering: .acquiring) < Int((t >> 16) & 0xFFFF) {}
        body = nil
    }

    /// Opens a step of `chunks` chunks to the helpers.
    private func publish(_ chunks: Int) {
        finished.store(0, ordering: .relaxed)
        let generation = (ticket.load(ordering: .relaxed) >> 32) &+ 1
        ticket.store(generation << 32 | UInt64(chunks) << 16, ordering: .sequentiallyConsistent)
        wakeSleepers()
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

    /// Wakes the sleeping helpers, if any (after a new ticket or `stopping` is stored: a helper
    /// counts itself in `sleepers` before it looks at them a last time, so none is missed).
    private func wakeSleepers() {
        guard sleepers.load(ordering: .sequentiallyConsistent) > 0 else { return }
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
    }

    private func helperLoop() {
        // Generation 0 is the one before any step: a helper that starts late still joins the
        // step under way (the ticket's generation at its start may be a step it has not seen).
        var seen: UInt64 = 0
        var idle = 0
        var idleSince = 0
        while !stopping.load(ordering: .acquiring) {
            let generation = ticket.load(ordering: .acquiring) >> 32
            if generation != seen {
                seen = generation
                claimChunks(of: generation)
                idle = 0
                continue
            }
            idle += 1
            if idle < 2000 { continue }
            if idle == 2000 { idleSince = MergeTeam.nanoseconds() }
            if MergeTeam.nanoseconds() - idleSince < MergeTeam.spinNanoseconds {
                sched_yield()  // between steps' bursts, let other work run
                continue
            }
            sleep(whileAt: seen)
            idle = 0
        }
    }

    /// Sleeps until the ticket leaves generation `seen` or the team stops.
    private func sleep(whileAt seen: UInt64) {
        pthread_mutex_lock(mutex)
        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
        while ticket.load(ordering: .sequentiallyConsistent) >> 32 == seen
            && !stopping.load(ordering: .sequentiallyConsistent)
        {
            pthread_cond_wait(wake, mutex)
        }
        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
    }

    private static func nanoseconds() -> Int {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return t.tv_sec * 1_000_000_000 + t.tv_nsec
    }
}
