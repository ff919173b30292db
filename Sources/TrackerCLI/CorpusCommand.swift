// `tracker corpus list|show`: what was ingested, from the database.
import ArgumentParser
import Basics
import Foundation
import Store

struct CorpusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus",
        abstract: "Show the ingested corpora.",
        subcommands: [List.self, Show.self],
        defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List ingested corpora, newest first.")
        @OptionGroup var workspace: WorkspaceOptions
        @Option(help: "Output: a table, or JSON on stdout.") var format: OutputFormat = .text

        func run() throws {
            let corpora = try withCLIErrors { try TrackerDB(home: workspace.resolvedHome, access: .readOnly).corpora() }
            if format == .json {
                print(try prettyJSON(corpora))
                return
            }
            if corpora.isEmpty {
                print("no corpora yet: ingest one with `tracker ingest PATH...`")
                return
            }
            var rows = [["id", "name", "documents", "bytes", "train/val docs", "created"]]
            for c in corpora {
                rows.append([
                    "\(c.id ?? 0)", c.name, "\(c.documents)", Format.bytes(c.bytes),
                    "\(c.trainDocuments)/\(c.valDocuments)",
                    String(c.createdAt.prefix(19)).replacingOccurrences(of: "T", with: " "),
                ])
            }
            print(renderTable(rows))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one corpus: sources, tokenizer, shards, checksums.")
        @OptionGroup var workspace: WorkspaceOptions
        @Argument(help: "Corpus name (the newest with that name) or id.") var name: String
        @Option(help: "Output: text, or JSON on stdout.") var format: OutputFormat = .text

        func run() throws {
            let home = workspace.resolvedHome
            let found = try withCLIErrors { try TrackerDB(home: home, access: .readOnly).corpus(named: name) }
            guard let c = found else {
                throw CLIError(description: StoreError.notFound(what: "corpus", name: name).description)
            }
            if format == .json {
                print(try prettyJSON(CorpusView(c)))
                return
            }
            var out = ["corpus \(c.corpus.name) (id \(c.corpus.id ?? 0)), ingested \(c.corpus.createdAt)"]
            out.append("  fingerprint \(c.corpus.fingerprint)")
            out.append(
                "  documents   \(c.corpus.documents) (train \(c.corpus.trainDocuments), val \(c.corpus.valDocuments)), \(Format.bytes(c.corpus.bytes))"
            )
            out.append(
                "  dropped     \(c.corpus.duplicates) duplicates, \(c.corpus.skipped) skipped, \(c.corpus.invalid) invalid UTF-8 (\(c.corpus.repaired) repaired)"
            )
            out.append("  settings    \(c.corpus.settings)")
            out.append("sources:")
            for s in c.sources {
                out.append("  \(s.path)  \(Format.bytes(s.size))  \(s.documents) docs  sha256 \(s.sha256)")
            }
            out.append("tokenizer:")
            out.append(
                "  \(home)/\(c.tokenizer.path)  vocabulary \(c.tokenizer.vocabSize)  sha256 \(c.tokenizer.sha256)")
            out.append("shards:")
            for s in c.shards {
                out.append(
                    "  \(s.split) \(home)/\(s.path)  \(s.tokens) tokens  \(s.documents) docs  sha256 \(s.sha256)")
            }
            print(out.joined(separator: "\n"))
        }
    }
}

/// The JSON shape of `corpus show`.
struct CorpusView: Encodable {
    let corpus: CorpusRecord
    let sources: [CorpusSourceRecord]
    let tokenizer: TokenizerRecord
    let shards: [ShardRecord]
    init(_ c: IngestedCorpus) {
        corpus = c.corpus
        sources = c.sources
        tokenizer = c.tokenizer
        shards = c.shards
    }
}

/// Left-aligned columns separated by two spaces, header underlined.
func renderTable(_ rows: [[String]]) -> String {
    guard let header = rows.first else { return "" }
    let widths = header.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
    func line(_ r: [String]) -> String {
        r.indices.map { $0 == r.count - 1 ? r[$0] : r[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
    return ([line(header), rule] + rows.dropFirst().map(line)).joined(separator: "\n")
}
