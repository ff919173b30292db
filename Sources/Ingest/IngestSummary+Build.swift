// Turning the passes' counters into database records and the printed summary.
import BPE
import Basics
import Corpus
import Foundation
import Store

extension IngestPipeline {
    func makeRecord(
        name: String, fingerprint: String, options: IngestOptions, pass: PassCounts, sources: [SourceFile],
        checksums: [(sha256: String, size: Int64)], tokenizerPath: String, tokenizerSHA256: String,
        vocabSize: Int, shards: [ShardRecord], seconds: [String: Double]
    ) -> IngestedCorpus {
        let settings = jsonString(options.fingerprintSettings)
        let stats = jsonString(pass.stats)
        let corpus = CorpusRecord(
            name: name, fingerprint: fingerprint, settings: settings, documents: pass.documents,
            trainDocuments: pass.trainDocuments, valDocuments: pass.valDocuments, bytes: pass.bytes,
            skipped: pass.stats.skippedTotal, invalid: pass.stats.invalidUTF8Total,
            repaired: pass.stats.repairedUTF8, duplicates: pass.duplicates, stats: stats)
        let sourceRecords = sources.indices.map { i in
            CorpusSourceRecord(
                path: URL(fileURLWithPath: sources[i].path).standardized.path, sha256: checksums[i].sha256,
                size: checksums[i].size,
                documents: pass.perSource[i].documents, bytes: pass.perSource[i].bytes)
        }
        let tokenizerSettings = jsonString([
            "kind": "byte-level BPE, GPT-2 pre-tokenizer",
            "specialTokens": "<|endoftext|>",
            "tieBreak": "highest count, then smallest (left id, right id)",
            "trainedOn": "all kept documents (train and val)",
        ])
        let tokenizer = TokenizerRecord(
            kind: "bpe-byte-level-gpt2", vocabSize: Int64(vocabSize), settings: tokenizerSettings,
            sha256: tokenizerSHA256, path: tokenizerPath)
        return IngestedCorpus(corpus: corpus, sources: sourceRecords, tokenizer: tokenizer, shards: shards)
    }

    func summary(
        status: String, name: String, pass: PassCounts, sources: [SourceFile], uniqueWords: Int,
        options: IngestOptions, seconds: [String: Double], start: DispatchTime
    ) -> IngestSummary {
        var s = IngestSummary(
            status: status, corpus: name, corpusId: nil, sources: sources.count,
            sourceBytes: sources.reduce(0) { $0 + $1.size }, documents: pass.documents,
            trainDocuments: pass.trainDocuments, valDocuments: pass.valDocuments, bytes: pass.bytes,
            skipped: pass.stats.skippedTotal, invalid: pass.stats.invalidUTF8Total, repaired: pass.stats.repairedUTF8,
            duplicates: pass.duplicates, trainTokens: 0, valTokens: 0, bytesPerToken: 0, vocabSize: options.vocabSize,
            uniqueWords: uniqueWords, tokenizerPath: nil, tokenizerSHA256: nil, shards: [], seconds: seconds,
            totalSeconds: secondsSince(start),
            megabytesPerSecond: Double(sources.reduce(0) { $0 + $1.size }) / 1e6 / max(secondsSince(start), 1e-9),
            peakMemoryBytes: peakMemoryBytes, stagePeakBytes: stagePeaks,
            memoryBudgetBytes: Int64(options.memoryBudget), spilledBytes: 0,
            warnings: sourceWarnings + pass.stats.warnings)
        s.cpuSeconds = cpuSeconds
        return s
    }

    func ingestedSummary(
        _ record: IngestedCorpus, tokenizer: Tokenizer, pass: PassCounts, sources: [SourceFile], uniqueWords: Int,
        options: IngestOptions, seconds: [String: Double], start: DispatchTime
    ) -> IngestSummary {
        var s = summary(
            status: "ingested", name: record.corpus.name, pass: pass, sources: sources, uniqueWords: uniqueWords,
            options: options, seconds: seconds, start: start)
        s.corpusId = record.corpus.id
        s.vocabSize = tokenizer.vocabSize
        s.tokenizerPath = "\(home)/\(record.tokenizer.path)"
        s.tokenizerSHA256 = record.tokenizer.sha256
        s.shards = record.shards.map {
            .init(
                split: $0.split, path: "\(home)/\($0.path)", tokens: $0.tokens, documents: $0.documents,
                sha256: $0.sha256)
        }
        if tokenizer.vocabSize < options.vocabSize {
            s.warnings.insert(
                "the corpus allowed only \(tokenizer.vocabSize - 257) merges: the vocabulary is \(tokenizer.vocabSize), not \(options.vocabSize) (ingest more text or pass a smaller --vocab-size)",
                at: 0)
        }
        s.trainTokens = record.shards.filter { $0.split == "train" }.reduce(0) { $0 + $1.tokens }
        s.valTokens = record.shards.filter { $0.split == "val" }.reduce(0) { $0 + $1.tokens }
        let tokens = s.trainTokens + s.valTokens - s.documents  // without the separators
        s.bytesPerToken = tokens > 0 ? Double(s.bytes) / Double(tokens) : 0
        return s
    }

    func unchangedSummary(_ c: IngestedCorpus, seconds: [String: Double], start: DispatchTime) -> IngestSummary {
        let train = c.shards.filter { $0.split == "train" }.reduce(Int64(0)) { $0 + $1.tokens }
        let val = c.shards.filter { $0.split == "val" }.reduce(Int64(0)) { $0 + $1.tokens }
        let tokens = train + val - c.corpus.documents
        return IngestSummary(
            status: "unchanged", corpus: c.corpus.name, corpusId: c.corpus.id, sources: c.sources.count,
            sourceBytes: c.sources.reduce(0) { $0 + $1.size }, documents: c.corpus.documents,
            trainDocuments: c.corpus.trainDocuments, valDocuments: c.corpus.valDocuments, bytes: c.corpus.bytes,
            skipped: c.corpus.skipped, invalid: c.corpus.invalid, repaired: c.corpus.repaired,
            duplicates: c.corpus.duplicates, trainTokens: train, valTokens: val,
            bytesPerToken: tokens > 0 ? Double(c.corpus.bytes) / Double(tokens) : 0,
            vocabSize: Int(c.tokenizer.vocabSize), uniqueWords: 0, tokenizerPath: "\(home)/\(c.tokenizer.path)",
            tokenizerSHA256: c.tokenizer.sha256,
            shards: c.shards.map {
                .init(
                    split: $0.split, path: "\(home)/\($0.path)", tokens: $0.tokens, documents: $0.documents,
                    sha256: $0.sha256)
            },
            seconds: seconds, totalSeconds: secondsSince(start), megabytesPerSecond: 0,
            peakMemoryBytes: peakMemoryBytes, stagePeakBytes: stagePeaks, memoryBudgetBytes: 0, spilledBytes: 0,
            warnings: [])
    }
}

/// Canonical JSON (sorted keys) of an encodable value.
func jsonString<T: Encodable>(_ value: T) -> String {
    (try? JSONText.encoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
}
