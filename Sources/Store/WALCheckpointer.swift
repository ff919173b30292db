// Checkpoints of the metric connection's WAL on a thread of their own. SQLite's automatic
// checkpoint runs inside the commit that crosses 1,000 WAL pages, on the writing thread: copying
// the pages into the database file and syncing both files took about a tenth of a metric batch's
// wall time (`tracker bench-store --mode batched`: 200,000 points at about 870k points/s with it,
// 980k with no checkpoint at all, 940k with this). Here the commit only notes that the WAL has grown past
// `softFrames` and a serial queue runs a PASSIVE checkpoint on its own connection, on the other
// core, while the writer goes on. A PASSIVE checkpoint never blocks the writer or readers and
// never waits for them. Should it fall behind (the WAL can only restart once every frame is
// copied while no transaction runs), the commit that finds the WAL past `hardFrames` checkpoints
// itself, as SQLite's own would: the WAL stays bounded whatever the timing.
// Other connections (the pool's writer, other processes) keep SQLite's automatic checkpoint.
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

    let softFrames: Int32
    let hardFrames: Int32

    private let path: String
    private let queue = DispatchQueue(label: "tracker.wal-checkpoint", qos: .utility)
    /// A checkpoint is queued and has not started.
    private let pending = Atomic<Bool>(false)
    /// The checkpointer's own connection (used on `queue` only), opened on first use.
    private nonisolated(unsafe) var connection: OpaquePointer?
    private nonisolated(unsafe) var closed = false
    /// Checkpoints run so far, in the background and by the hard limit (tests read these).
    let background = Atomic<Int>(0)
    let inline = Atomic<Int>(0)

    init(path: String, softFrames: Int32 = defaultSoftFrames, hardFrames: Int32 = defaultHardFrames) {
        self.path = path
        self.softFrames = softFrames
        self.hardFrames = hardFrames
    }

    /// Installs the commit hook on `db` (the metric connection); `uninstall` before it closes or
    /// before this object goes.
    func install(on db: OpaquePointer) {
        sqlite3_wal_hook(db, walHook, Unmanaged.passUnretained(self).toOpaque())
    }

    static func uninstall(from db: OpaquePointer) {
        sqlite3_wal_hook(db, nil, nil)
    }

    /// Called by SQLite after each commit of the hooked connection, with the WAL's page count.
    fileprivate func committed(_ db: OpaquePointer?, _ schema: UnsafePointer<CChar>?, frames: Int32) -> Int32 {
        if frames >= hardFrames {
            inline.add(1, ordering: .relaxed)
            // What SQLite's automatic checkpoint does; its result is advisory there too.
            _ = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
        } else if frames >= softFrames, !pending.exchange(true, ordering: .acquiringAndReleasing) {
            queue.async { self.run() }
        }
        return SQLITE_OK
    }

    private func run() {
        pending.store(false, ordering: .releasing)
        if closed { return }
        if connection == nil {
            var db: OpaquePointer?
            let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
            guard rc == SQLITE_OK, let db else {
                sqlite3_close(db)
                return  // the hard limit still bounds the WAL
            }
            // The syncs a checkpoint does follow its connection's setting: the store's.
            sqlite3_exec(db, "PRAGMA synchronous = NORMAL", nil, nil, nil)
            connection = db
        }
        if sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil) == SQLITE_OK {
            background.add(1, ordering: .relaxed)
        }
    }

    /// Waits for a queued checkpoint and closes the connection.
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
