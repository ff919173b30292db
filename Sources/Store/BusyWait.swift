// How a connection waits for another process's write lock. SQLite's own busy timeout sleeps 1,
// 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between tries: with eight processes logging
// metrics at once, a batch holds the lock for about a millisecond, so a waiter that has backed
// off to 25 ms leaves the lock idle most of the time (8 writers plus a reader wrote 2-3x fewer
// points per second than one writer alone). Here a waiter sleeps 50 us, then 100 us, then 200 us
// between tries, up to the same total timeout.
import Foundation
import GRDB

enum BusyWait {
    /// Sleep before try `n` (0-based), in microseconds.
    static func sleep(beforeTry n: Int) -> UInt32 { n >= 2 ? 200 : 50 << n }

    /// Total sleep before try `n`, in microseconds.
    static func slept(beforeTry n: Int) -> Double { n < 2 ? (n == 0 ? 0 : 50) : 150 + Double(n - 2) * 200 }

    /// The busy handler: waits and tries again until `timeout` seconds have been slept.
    static func callback(timeout: TimeInterval) -> Database.BusyCallback {
        { tries in
            if slept(beforeTry: tries) >= timeout * 1e6 { return false }
            usleep(sleep(beforeTry: tries))
            return true
        }
    }
}
