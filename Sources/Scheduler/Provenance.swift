// Where a run came from: the code (git commit + dirty flag of the checkout the process runs in),
// the machine (host, cores, memory, OS) and the data (corpus fingerprint, tokenizer and shard
// hashes, from the Store's record of the ingest). Recorded on the run row when it starts.
import Basics
import Foundation
import Store

public enum Provenance {
    /// The git commit of the current directory's checkout and whether it has local changes, or
    /// (nil, nil) outside a git checkout or without git.
    public static func codeVersion(directory: String = FileManager.default.currentDirectoryPath) -> (
        commit: String?, dirty: Bool?
    ) {
        guard let head = git(["rev-parse", "HEAD"], in: directory), head.count >= 40 else { return (nil, nil) }
        let status = git(["status", "--porcelain", "--untracked-files=no"], in: directory)
        return (head, status.map { !$0.isEmpty })
    }

    /// Host, cores, memory and OS as canonical JSON.
    public static func machineJSON() -> String {
        let info = ProcessInfo.processInfo
        let machine: ConfigValue = .table([
            "host": .string(info.hostName),
            "cpu": .string(CPUInfo.modelName() ?? "unknown"),
            "cores": .int(info.activeProcessorCount),
            "memoryBytes": .int(Int(clamping: info.physicalMemory)),
            "os": .string(info.operatingSystemVersionString),
        ])
        return (try? machine.canonicalJSON()) ?? "{}"
    }

    /// Records on a claimed run's row where it comes from, as a worker does before starting it:
    /// `code` and `machine` (this process's, by default) and the corpus its config names.
    public static func record(
        _ run: RunRecord, db: TrackerDB, code: (commit: String?, dirty: Bool?) = codeVersion(),
        machine: String = machineJSON()
    ) throws {
        var lineage: (corpusId: Int64?, json: String?) = (nil, nil)
        if let tree = try? ConfigValue(json: run.config) {
            lineage = (try? Self.lineage(config: tree, db: db)) ?? (nil, nil)
        }
        try db.setProvenance(
            runId: run.id!, codeVersion: code.commit, codeDirty: code.dirty, machine: machine,
            corpusId: lineage.corpusId, lineage: lineage.json)
    }

    /// The corpus a run config names ([data] corpus = "NAME") and its lineage JSON, if it is ingested
    /// (none for a synthetic task, though its resolved config holds the default corpus name).
    public static func lineage(config: ConfigValue, db: TrackerDB) throws -> (corpusId: Int64?, json: String?) {
        if config.value(at: "data.task") != nil { return (nil, nil) }
        let name: String
        switch config.value(at: "data.corpus") {
        case .string(let n): name = n
        case .int(let id): name = String(id)
        default: return (nil, nil)
        }
        guard let c = try db.corpus(named: name) else { return (nil, nil) }
        let tree: ConfigValue = .table([
            "corpus": .string(c.corpus.name),
            "corpusFingerprint": .string(c.corpus.fingerprint),
            "tokenizerSha256": .string(c.tokenizer.sha256),
            "tokenizerPath": .string(c.tokenizer.path),
            "shards": .array(
                c.shards.map {
                    .table(["split": .string($0.split), "path": .string($0.path), "sha256": .string($0.sha256)])
                }),
        ])
        return (c.corpus.id, try tree.canonicalJSON())
    }

    /// Runs git with a 5 s budget; nil when it fails or is missing.
    private static func git(_ args: [String], in directory: String) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["git", "-C", directory] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
