// A run reads the corpus files its record names (on a cluster: the head's record, in the
// manifest) and checks them before training: a file missing on this node is an error naming the
// file, this host and the fix (the workspace on the shared filesystem); a shard whose bytes
// changed since ingest fails on its recorded SHA-256.
import BPE
import Basics
import Foundation
import Session
import Shards
import Store
import Testing

struct CorpusOnThisNodeTests {
    static let toml = """
        [data]
        corpus = "tiny"
        [model]
        channels = 16
        layers = 1
        heads = 2
        context = 16
        [train]
        steps = 2
        batch = 2
        eval_every = 0
        threads = 1
        """

    /// A workspace holding a byte-level tokenizer and one train shard, and their record.
    static func workspace() throws -> (home: String, corpus: IngestedCorpus) {
        let home = NSTemporaryDirectory() + "session-corpus-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home + "/shards", withIntermediateDirectories: true)
        let tokenizer = try BPETrainer(vocabSize: 257).train(WordCounter())
        try tokenizer.tokenizerJSON().write(to: URL(fileURLWithPath: home + "/tokenizer.json"))
        let (tokenizerSHA, _) = try FileHashing.sha256(path: home + "/tokenizer.json")
        let writer = try ShardWriter(
            path: home + "/shards/train-0.bin", vocabSize: 257, eotId: 256, tokenizerSHA256: [])
        let tokens = (0..<2000).map { UInt32($0 % 256) }
        try tokens.withUnsafeBufferPointer { try writer.append(document: $0) }
        _ = try writer.finish()
        let (shardSHA, size) = try FileHashing.sha256(path: home + "/shards/train-0.bin")
        let corpus = IngestedCorpus(
            corpus: CorpusRecord(
                name: "tiny", fingerprint: "fp", settings: "{}", documents: 1, trainDocuments: 1, valDocuments: 0,
                bytes: 2000, skipped: 0, invalid: 0, repaired: 0, duplicates: 0, stats: "{}"),
            sources: [],
            tokenizer: TokenizerRecord(
                kind: "bpe", vocabSize: 257, settings: "{}", sha256: tokenizerSHA, path: "tokenizer.json"),
            shards: [
                ShardRecord(
                    split: "train", ordinal: 0, path: "shards/train-0.bin", tokens: 2001, documents: 1, size: size,
                    sha256: shardSHA)
            ])
        return (home, corpus)
    }

    @Test func theRecordedFilesLoad() throws {
        let (home, corpus) = try Self.workspace()
        let data = try TrainData.load(try TrainConfigFile.decode(toml: Self.toml), home: home, corpus: corpus)
        #expect(data.vocabSize == 257)
    }

    @Test(arguments: ["tokenizer.json", "shards/train-0.bin"])
    func aFileMissingOnThisNodeNamesItTheHostAndTheFix(_ file: String) throws {
        let (home, corpus) = try Self.workspace()
        try FileManager.default.removeItem(atPath: home + "/" + file)
        let host = ProcessInfo.processInfo.hostName
        #expect(throws: SessionError.corpusFileMissing(path: home + "/" + file, host: host)) {
            try TrainData.load(try TrainConfigFile.decode(toml: Self.toml), home: home, corpus: corpus)
        }
        let message = "\(SessionError.corpusFileMissing(path: home + "/" + file, host: host))"
        #expect(message.contains("\(home)/\(file) does not exist on \(host)") && message.contains("shared filesystem"))
    }

    @Test func aShardChangedSinceIngestFailsOnItsChecksum() throws {
        let (home, corpus) = try Self.workspace()
        let path = home + "/shards/train-0.bin"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count - 1] ^= 1
        try bytes.write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: ShardError.self) {
            try TrainData.load(try TrainConfigFile.decode(toml: Self.toml), home: home, corpus: corpus)
        }
        guard case .checksumMismatch(let p, let expected, _)? = error else {
            Issue.record("expected a checksum mismatch, got \(String(describing: error))")
            return
        }
        #expect(p == path && expected == corpus.shards[0].sha256)
    }
}
