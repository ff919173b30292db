// `tracker bench-corpus` (hidden): the synthetic corpora of bench/ingest_scale.sh. Modes:
//   generate - writes --bytes of Zipfian JSONL text whose vocabulary follows Heaps' law
//              (K n^β distinct pre-token words after n pre-token words) to --output
//   heaps    - fits Heaps' law to PATH... (K at β = --heaps-beta, and the free fit of both), in
//              pre-token words (the trainer's unit) and in plain lower-cased words ("plain*"),
//              to check the generator's constant against real text
// Each mode prints one JSON object on stdout.
import ArgumentParser
import Basics
import Corpus
import Foundation
import Ingest

struct BenchCorpusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-corpus", abstract: "Write or measure benchmark corpora.", shouldDisplay: false)

    @Option var mode = "generate"
    @Option(help: "Bytes to write, e.g. 100M or 10G.") var bytes = "100M"
    @Option var output: String?
    @Option var seed: UInt64 = 1
    @Option var heapsK = 25.0
    @Option var heapsBeta = 0.6
    @Argument var paths: [String] = []

    func run() throws {
        switch mode {
        case "generate":
            guard let total = ByteSize.parse(bytes), total > 0 else {
                throw ValidationError("--bytes '\(bytes)' is not a size: give e.g. 100M or 10G")
            }
            guard let output else { throw ValidationError("--output FILE is required to generate") }
            var text = ZipfText(seed: seed, heapsK: heapsK, heapsBeta: heapsBeta)
            let start = DispatchTime.now()
            try withCLIErrors { try text.writeJSONL(to: output, totalBytes: Int64(total)) }
            let fit = Double(text.distinct) / pow(Double(text.words), heapsBeta)
            try printJSON([
                "bytes": Double(total), "words": Double(text.words), "distinct": Double(text.distinct),
                "spellings": Double(text.spellings), "heapsK": fit, "seconds": secondsSince(start),
            ])
        case "heaps":
            var fit = HeapsFit()
            try withCLIErrors {
                for source in try CorpusScanner.sources(for: paths) {
                    _ = try CorpusScanner.read(source, options: CorpusOptions(), progress: nil) { doc in
                        fit.add(document: doc.bytes)
                    }
                }
            }
            fit.finish()
            let (k, beta, freeK) = fit.fit(beta: heapsBeta)
            let plain = fit.fit(beta: heapsBeta, plainWords: true)
            let (last, plainLast) = (fit.points.last, fit.plainPoints.last)
            try printJSON([
                "words": Double(last?.words ?? 0), "distinct": Double(last?.distinct ?? 0), "heapsK": k,
                "heapsBeta": heapsBeta, "freeBeta": beta, "freeK": freeK, "checkpoints": Double(fit.points.count),
                "plainWords": Double(plainLast?.words ?? 0), "plainDistinct": Double(plainLast?.distinct ?? 0),
                "plainHeapsK": plain.k, "plainFreeBeta": plain.freeBeta, "plainFreeK": plain.freeK,
            ])
        default:
            throw ValidationError("--mode must be generate or heaps")
        }
    }

    private func printJSON(_ values: [String: Double]) throws { print(try prettyJSON(values)) }
}
