// Checkpoints of the WAL on a thread of their own. SQLite's automatic checkpoint runs inside the
// commit that crosses 1,000 WAL pages, on the writing thread: copying the pages into the database
// file and syncing both files took about a tenth of a metric batch's wall time (`tracker
// bench-store --mode batched`: 200,000 points at about 870k points/s with it, 980k with no
// checkpoint at all, 940k with this). Here a commit of one of this process's writing connections
// (the metric connection and the pool's writer: `install` replaces their automatic checkpoint)
// only notes that the WAL has grown past `softFrames`, and a serial queue runs a PASSIVE
// checkpoint on a connection of its own, on the other core, while the writer goes on. A PASSIVE
// checkpoint never blocks the writer or readers and never waits for them. Should it fall behind
// (the WAL restarts only once every frame is copied while no transaction runs), the commit that
// finds the WAL past `hardFrames` checkpoints itself, as SQLite's own would; that one cannot run
// while the background one holds the checkpoint lock, so the WAL can pass the hard limit by what
// is committed meanwhile. At a restart the WAL file is cut back to `journalSizeLimit`.
// Other processes keep whatever their connections do (SQLite's automatic checkpoint for tools).
import Foundation
import GRDBSQLite
import Synchronization

final class WALCheckpointer: Sendable {
    /// WAL pages past which a commit asks for a background checkpoint (16 MB of 4 KB pages). Four
    /// times SQLite's default: a page that batch after batch rewrites (a series' last leaf, the
    /// summaries) is copied once per checkpoint. At 1,000 the thread ran some 155 checkpoints
    /// for 200,000 points (the WAL rarely restarts while batches keep coming) and the writer
    /// gained nothing; at 4,000 it ran 18-30 and the writer about 8% more points/s.
    static let defaultSoftFrames: Int32 = 4000
    /// WAL pages past which the committing connection checkpoints itself.
    static let defaultHardFrames: Int32 = 4 * defaultSoftFrames
    /// Bytes the WAL file is cut back to when it restarts (`PRAGMA journal_size_limit`): about
    /// the soft limit, so a burst's large WAL does not stay on disk.
    static let journalSizeLimit = 16 << 20

    let softFrames: Int32
    let hardFrames: Int32

    private let path: String
    private let queue = DispatchQueue(label: "tracker.wal-checkpoint", qos: .utility)
    /// A checkpoint is queued and has not started.
    private let pending = Atomic<Bool>(false)
    /// The checkpointer's own connection (used on `queue` only), opened on first use.
    private nonisolated(unsafe) var connection: OpaquePointer?
    private nonisolated(unsafe) var closed = false
    /// Checkpoints that copied pages, in the background and by the hard limit (tests read these).
    let background = Atomic<Int>(0)
    let inline = Atomic<Int>(0)

    init(path: String, softFrames: Int32 = defaultSoftFrames, hardFrames: Int32 = defaultHardFrames) {
        self.path = path
        self.softFrames = softFrames
        self.hardFrames = hardFrames
    }

    /// Installs the commit hook on `db` (a writing connection), which turns its automatic
    /// checkpoint off. The hook keeps this object alive (a retain never given back: GRDB closes
    /// the pool's connections on its own schedule, and an object of a few hundred bytes per
    /// opened store is cheaper than a hook that could outlive it); after `close` it still runs
    /// the hard limit's checkpoints.
    func install(on db: OpaquePointer) {
        sqlite3_wal_hook(db, walHook, Unmanaged.passRetained(self).toOpaque())
        sqlite3_exec(db, "PRAGMA journal_size_limit = \(Self.journalSizeLimit)", nil, nil, nil)
    }

    /// Called by SQLite after each commit of a hooked connection, with the WAL's page count.
    fileprivate func committed(_ db: OpaquePointer?, _ schema: UnsafePointer<CChar>?, frames: Int32) -> Int32 {
        if frames >= hardFrames {
            // What SQLite's automatic checkpoint does; its result is advisory there too (BUSY
            // while the background checkpoint runs).
            var copied: Int32 = 0
            if sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nil, &copied) == SQLITE_OK, copied > 0 {
                inline.add(1, ordering: .relaxed)
            }
        } else if frames >= softFrames, !pending.exchange(true, ordering: .acquiringAndReleasing) {
            queue.async { self.run() }
        }
        return SQLITE_OK
    }

    private func run() {
        pending.store(false, ordering: .releasing)
        if closed { return }
        guard let db = connection ?? open() else { return }  // the hard limit still bounds the WAL
        var copied: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(db, nil, SQLITE_CHECKPOINT_PASSIVE, nil, &copied)
        if rc == SQLITE_OK {
            if copied > 0 { background.add(1, ordering: .relaxed) }
        } else if rc != SQLITE_BUSY && rc != SQLITE_LOCKED {
            // Anything else: a fresh connection next time.
            sqlite3_close(db)
            connection = nil
        }
    }

    /// The checkpoint connection, with the store's sync setting (a checkpoint's syncs follow
    /// it); nil when it cannot be opened or set up.
    private func open() -> OpaquePointer? {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX
        guard sqlite3_open_v2(path, &db, flags, nil) == SQLITE_OK, let db,
            // the read opens the WAL: a checkpoint on a connection that has not read it does nothing
            sqlite3_exec(db, "PRAGMA synchronous = NORMAL; SELECT count(*) FROM sqlite_schema", nil, nil, nil)
                == SQLITE_OK
        else {
            sqlite3_close(db)
            return nil
        }
        sqlite3_busy_timeout(db, 0)
        connection = db
        return db
    }

    /// Waits for a queued checkpoint and closes the connection; later commits queue nothing.
    func close() {
        queue.sync {
            sqlite3_close(connection)
            connection = nil
            closed = true
        }
    }
}

private func walHook(
    _ context: UnsafeMutableRawPointer?, _ db: OpaquePointer?, _ schema: UnsafePointer<CChar>?, _ frames: Int32
) -> Int32 {
    guard let context else { return SQLITE_OK }
    return Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(db, schema, frames: frames)
}
