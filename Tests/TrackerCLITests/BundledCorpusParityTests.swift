// The bundled corpus through `tracker ingest`, checked against Hugging Face `tokenizers` trained
// on the same documents: the merge lists must be identical, merge for merge, and HF must encode
// the corpus's own text to the ids in our shards. Needs python3 with tokenizers (see `.requires`).
import Foundation
import TestSupport
import Testing

private let pythonHasTokenizers = pythonCanImport("tokenizers")

/// Reads the archive the way ingest documents it (one document per entry, exact duplicates
/// dropped, tokenizer trained on all kept documents), trains HF's BpeTrainer on it, and compares.
private let parityScript = #"""
    import json, sys, tarfile
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    archive, ours_path, vocab, shard = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    docs, seen = [], set()
    with tarfile.open(archive) as tar:
        for m in tar:
            if m.isfile():
                data = tar.extractfile(m).read()
                if data and data not in seen:
                    seen.add(data)
                    docs.append(data.decode("utf-8"))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab - 1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(docs, trainer)
    def norm(ms):
        return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in ms]
    theirs = norm(json.loads(tok.to_str())["model"]["merges"])
    ours = norm(json.load(open(ours_path))["model"]["merges"])
    first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
    print(json.dumps({"docs": len(docs), "ours": len(ours), "theirs": len(theirs), "firstDifference": first}))
    # HF loading our tokenizer.json encodes a document to exactly the ids in our shard.
    import struct
    mine = Tokenizer.from_file(ours_path)
    raw = open(shard, "rb").read()
    count = struct.unpack("<i", raw[8:12])[0]
    ids = struct.unpack("<%dH" % count, raw[1024:1024 + 2 * count])
    eot = mine.token_to_id("<|endoftext|>")
    first_doc = list(ids[1:ids.index(eot, 1)])
    text = mine.decode(first_doc)
    print(json.dumps({"encodeMatches": mine.encode(text).ids == first_doc, "eot": eot}))
    """#

@Suite(.tags(.slow), .requires("python3 with the tokenizers package", pythonHasTokenizers))
struct BundledCorpusParityTests {
    @Test func mergesEqualHuggingFaceOnTheBundledCorpus() throws {
        let home = tempDir("parity")
        let vocab = 2048
        let archive = repoRoot + "/corpora/bundled.tar.xz"
        let r = try runTracker(["ingest", archive, "--home", home, "--vocab-size", "\(vocab)", "--format", "json"])
        #expect(r.status == 0, "\(r.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let tokenizerPath = summary["tokenizerPath"] as! String
        let shards = summary["shards"] as! [[String: Any]]
        let train = shards.first { $0["split"] as? String == "train" }!["path"] as! String

        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", parityScript, archive, tokenizerPath, "\(vocab)", train]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let lines = text.split(separator: "\n").map {
            try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        #expect(lines.count == 2, "\(text)")
        #expect(lines[0]["docs"] as? Int == summary["documents"] as? Int)
        #expect(lines[0]["ours"] as? Int == vocab - 257)
        #expect(lines[0]["ours"] as? Int == lines[0]["theirs"] as? Int)
        #expect(lines[0]["firstDifference"] is NSNull, "merges differ from HF at index \(lines[0]["firstDifference"]!)")
        #expect(lines[1]["encodeMatches"] as? Bool == true)
        #expect(lines[1]["eot"] as? Int == vocab - 1)
    }
}
