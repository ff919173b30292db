// Where an ingest's files live: written into a staging folder of the workspace, then renamed
// into `tokenizers/<id>.json` and `shards/<id>/` (id = name-fingerprint prefix), or into
// `<id>-2` when a rebuild (--force) replaces a corpus that uses `<id>`: the replaced corpus keeps
// its files until the rows of the new one are committed, then they are deleted. Callers hold the
// corpus' IngestLock, so no other ingest publishes the same id meanwhile.
import Basics
import Foundation
import Store

#if canImport(Glibc)
    import Glibc
#endif

/// A tokenizer file and a shard folder, relative to the workspace.
struct PublishedPaths: Equatable {
    var tokenizer: String
    var shards: String

    init(tokenizer: String, shards: String) {
        self.tokenizer = tokenizer
        self.shards = shards
    }

    /// The files a recorded corpus names.
    init(_ corpus: IngestedCorpus) {
        tokenizer = corpus.tokenizer.path
        let first = corpus.shards.first?.path ?? ""
        shards = first.lastIndex(of: "/").map { String(first[..<$0]) } ?? ""
    }

    /// Deletes the files, if they are where an ingest puts them (never outside the workspace).
    func remove(home: String) {
        for (rel, folder) in [(tokenizer, "tokenizers/"), (shards, "shards/")]
        where rel.hasPrefix(folder) && rel.count > folder.count && !rel.split(separator: "/").contains("..") {
            try? FileManager.default.removeItem(atPath: "\(home)/\(rel)")
        }
    }
}

/// The staging folder of one ingest: `<home>/.staging-<id>-<pid>-<random>`, removed by `remove()`,
/// with a lock file beside it (`.staging-...lock`) held until then: a killed ingest leaves its
/// folder (the tokenizer and partial shards), and the next ingest deletes it (`removeStale`).
final class StagingFolder {
    static let folderPrefix = ".staging-"
    let home: String
    let id: String
    let path: String
    private let lock: FileLock
    var tokenizerFile: String { path + "/tokenizer.json" }
    var shardsFolder: String { path + "/shards" }

    init(home: String, id: String) throws {
        self.home = home
        self.id = id
        path = "\(home)/\(Self.folderPrefix)\(id)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            lock = try FileLock(path: path + StaleFolders.lockSuffix, removeOnRelease: true)
        } catch {
            throw BasicsError.io(
                path: path + StaleFolders.lockSuffix, errno: errno == 0 ? EIO : errno, action: "lock the staging folder"
            )
        }
        do {
            try FileManager.default.createDirectory(atPath: shardsFolder, withIntermediateDirectories: true)
        } catch {
            let code = errno == 0 ? EIO : errno
            remove()
            throw BasicsError.io(path: path, errno: code, action: "create the staging folder")
        }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
        lock.release()
    }

    /// Deletes the staging folders in `home` of ingests that died (killed, or the machine went
    /// down) before removing them; never one whose ingest runs.
    @discardableResult
    static func removeStale(in home: String) -> [String] {
        StaleFolders.remove(in: home, prefix: folderPrefix)
    }

    /// The first of `<id>`, `<id>-2` that `existing` does not use, relative to the workspace.
    func target(replacing existing: IngestedCorpus?) -> PublishedPaths {
        let first = PublishedPaths(tokenizer: "tokenizers/\(id).json", shards: "shards/\(id)")
        guard let inUse = existing.map(PublishedPaths.init),
            inUse.tokenizer == first.tokenizer || inUse.shards == first.shards
        else { return first }
        return PublishedPaths(tokenizer: "tokenizers/\(id)-2.json", shards: "shards/\(id)-2")
    }

    /// Renames the tokenizer and the shard folder to `target` (leftovers of a killed ingest there
    /// are deleted first: no row names them).
    func publish(to target: PublishedPaths) throws {
        for folder in ["tokenizers", "shards"] {
            do {
                try FileManager.default.createDirectory(atPath: "\(home)/\(folder)", withIntermediateDirectories: true)
            } catch {
                throw BasicsError.io(path: "\(home)/\(folder)", errno: errno == 0 ? EIO : errno, action: "create")
            }
        }
        target.remove(home: home)
        try move(tokenizerFile, to: "\(home)/\(target.tokenizer)")
        do {
            try move(shardsFolder, to: "\(home)/\(target.shards)")
        } catch {
            target.remove(home: home)
            throw error
        }
    }

    private func move(_ from: String, to: String) throws {
        guard rename(from, to) == 0 else { throw BasicsError.io(path: to, errno: errno, action: "move into place") }
    }
}
