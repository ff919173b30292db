// The ingest's view of the reader's counters: skipped entries apart from invalid UTF-8.
import Corpus

extension CorpusStats {
    /// Entries left out for any reason other than invalid UTF-8 (counted in `invalidUTF8Total`).
    var skippedTotal: Int64 { Int64(skipped - invalidUTF8Skipped) }
    var invalidUTF8Total: Int64 { Int64(invalidUTF8Skipped + invalidUTF8Repaired) }
    var repairedUTF8: Int64 { Int64(invalidUTF8Repaired) }

    /// One line on why nothing was kept, for the "no usable documents" error.
    func skipSummary(duplicates: Int64) -> String {
        let parts: [(String, Int)] = [
            ("entries seen", entriesSeen), ("filtered by globs", skippedFiltered),
            ("binary", skippedBinaryName + skippedBinaryContent), ("oversized", skippedOversized),
            ("not regular files", skippedNonRegular), ("empty", skippedEmpty), ("unreadable", skippedUnreadable),
            ("bad JSONL lines", skippedJSONLLines), ("invalid UTF-8", invalidUTF8Skipped),
            ("duplicates", Int(duplicates)), ("failed sources", failedSources),
        ]
        let text = parts.filter { $0.1 > 0 || $0.0 == "entries seen" }.map { "\($0.1) \($0.0)" }.joined(separator: ", ")
        return warnings.first.map { text + "; first warning: \($0)" } ?? text
    }
}
