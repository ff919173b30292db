// One ingest of a corpus at a time: an exclusive `FileLock` on `<home>/.ingest-<fingerprint>.lock`,
// taken after the sources are hashed and held until the corpus is recorded. A second ingest of
// the same sources and settings waits, then finds the corpus recorded and does no work. The
// kernel drops the lock when its holder dies, so a killed ingest never blocks the next one; the
// file is deleted on release (see FileLock for why that leaves no window).
import Basics

enum IngestLock {
    /// Blocks until the lock is held; calls `onWait` once, with a note naming the holder, if it has to wait.
    static func take(home: String, fingerprint: String, onWait: ((String) -> Void)?) throws -> FileLock {
        let path = "\(home)/.ingest-\(fingerprint.prefix(32)).lock"
        do {
            return try FileLock(waitingFor: path, removeOnRelease: true) { holder in
                onWait?(
                    "another ingest of the same sources and settings is running (pid \(holder ?? "unknown")): waiting for it to finish"
                )
            }
        } catch FileLockError.failed(let path, let reason) {
            throw IngestError.lockFailed(path: path, reason: reason)
        }
    }
}
