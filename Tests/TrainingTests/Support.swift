// Helpers shared by the training tests: temporary folders and shards with chosen tokens.
import Basics
import Foundation
import Shards

func temporaryDirectory(_ label: String = "training") -> String {
    let d = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// Writes one shard holding `tokens` and opens it.
func makeShard(_ path: String, tokens: [UInt32], vocab: Int) throws -> ShardReader {
    let w = try ShardWriter(path: path, vocabSize: vocab, eotId: UInt32(vocab - 1), tokenizerSHA256: [])
    try tokens.withUnsafeBufferPointer { try w.append(document: $0) }
    try w.finish()
    return try ShardReader(path: path)
}

/// The package root, found from this file's path (for experiments/ and corpora/).
let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()
