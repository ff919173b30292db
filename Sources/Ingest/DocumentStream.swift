// One pass over the sources: read every document, drop exact duplicates, assign the split.
// Both ingest passes (count, then encode) go through here, so they see the same documents.
import Basics
import Corpus

/// Counters of one pass, per source and in total.
struct PassCounts {
    var documents: Int64 = 0
    var trainDocuments: Int64 = 0
    var valDocuments: Int64 = 0
    var bytes: Int64 = 0
    var duplicates: Int64 = 0
    var perSource: [(documents: Int64, bytes: Int64)] = []
    var stats = CorpusStats()
    var smallestKey: DocumentKey?
    /// Documents each `valFiles` glob sent to the validation split.
    var valFileDocuments: [Int64] = []
}

struct DocumentStream {
    let sources: [SourceFile]
    let options: CorpusOptions
    let valFraction: Double
    /// Whole files held out for validation (IngestOptions.valFiles).
    var valFiles: [Glob] = []
    /// A document that goes to val although its hash says train (so val is never empty).
    var forcedValidation: DocumentKey?

    /// Calls `body(bytes, isValidation)` for every kept document in a deterministic order.
    /// `keyBytes` is told the memory of the set of document keys (which drops duplicates)
    /// whenever it grows.
    func run(
        progress: ProgressBar?, keyBytes: ((Int) -> Void)? = nil,
        _ body: (UnsafeRawBufferPointer, Bool) throws -> Void
    ) throws -> PassCounts {
        var counts = PassCounts()
        counts.valFileDocuments = Array(repeating: 0, count: valFiles.count)
        var seen = DocumentKeySet()
        keyBytes?(seen.bytes)
        var consumedBefore: Int64 = 0
        for (i, source) in sources.enumerated() {
            counts.perSource.append((0, 0))
            let before = consumedBefore
            let stats = try CorpusScanner.read(
                source, options: options,
                progress: { done in progress?.set(before + done) }
            ) { doc in
                let key = DocumentKey(doc.bytes)
                let before = seen.bytes
                guard seen.insert(key) else {
                    counts.duplicates += 1
                    return
                }
                if seen.bytes != before { keyBytes?(seen.bytes) }
                let heldOut = heldOutGlob(doc)
                if let g = heldOut { counts.valFileDocuments[g] += 1 }
                let isVal = heldOut != nil || key.isValidation(fraction: valFraction) || key == forcedValidation
                counts.documents += 1
                counts.bytes += Int64(doc.bytes.count)
                counts.perSource[i].documents += 1
                counts.perSource[i].bytes += Int64(doc.bytes.count)
                if isVal { counts.valDocuments += 1 } else { counts.trainDocuments += 1 }
                if counts.smallestKey.map({ key < $0 }) ?? true { counts.smallestKey = key }
                try body(doc.bytes, isVal)
            }
            counts.stats.add(stats)
            consumedBefore += source.size
            progress?.set(consumedBefore)
        }
        return counts
    }
}

extension DocumentStream {
    /// The first `valFiles` glob matching the document's file: the archive entry (without a JSONL
    /// line suffix) under its archive's path, or the plain file's path.
    func heldOutGlob(_ doc: Document) -> Int? {
        guard !valFiles.isEmpty else { return nil }
        var entry = Substring(doc.entry)
        if let hash = entry.range(of: "#L", options: .backwards) { entry = entry[..<hash.lowerBound] }
        let path = entry.isEmpty ? doc.source : doc.source + "/" + entry
        return valFiles.firstIndex { $0.matches(path) }
    }
}

/// Documents gathered into one contiguous buffer, handed between threads as a unit.
final class DocumentBatch: @unchecked Sendable {
    var bytes: [UInt8] = []
    var ends: [Int] = []
    var isValidation: [Bool] = []

    var count: Int { ends.count }

    func append(_ doc: UnsafeRawBufferPointer, isValidation v: Bool) {
        bytes.append(contentsOf: doc)
        ends.append(bytes.count)
        isValidation.append(v)
    }

    /// Empties the batch, keeping its storage for the next one.
    func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        isValidation.removeAll(keepingCapacity: true)
    }

    func withDocument<R>(_ i: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let start = i == 0 ? 0 : ends[i - 1]
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<ends[i]])) }
    }
}
