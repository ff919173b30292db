/// Why an ingest stopped, with what to do about it. Nothing is recorded and no shard is left behind.
public enum IngestError: Error, CustomStringConvertible, Equatable {
    case noSources(paths: [String])
    case nothingUsable(paths: [String], detail: String)
    case badValFraction(Double)
    /// A `--val-files` glob that matched no document.
    case valFilesUnmatched(glob: String)
    /// `--val-files` held out every document.
    case noTrainingDocuments(valFiles: [String])
    /// `--val-fraction` sent every document to the validation split.
    case allValidation(valFraction: Double, documents: Int64)
    /// `--memory-budget` (as typed) outside `IngestLimits.memoryBudgetMiB`.
    case memoryBudgetOutOfRange(String)
    case badName(String)
    case filesMissing(corpus: String, path: String)
    /// An option outside the range the pipeline supports.
    case outOfRange(option: String, value: Int, range: ClosedRange<Int>)
    /// The sources gave other documents on the second pass than on the first.
    case sourcesChanged(paths: [String])
    /// The per-corpus lock file could not be taken.
    case lockFailed(path: String, reason: String)
    /// The trainer would need more memory than `--memory-budget` for the distinct words counted.
    case trainerOverBudget(words: Int, neededMiB: Int, budgetMiB: Int)

    public var description: String {
        switch self {
        case .noSources(let paths):
            return
                "no files found in \(paths.joined(separator: ", ")): pass archives, text files or folders that contain them"
        case .nothingUsable(let paths, let detail):
            return
                "no usable text documents in \(paths.joined(separator: ", ")) (\(detail)): check --include/--exclude, or pass --repair-utf8 for text with invalid UTF-8"
        case .badValFraction(let f):
            return "--val-fraction \(f) must be in [0, 1)"
        case .valFilesUnmatched(let glob):
            return "--val-files '\(glob)' matched no document: check the name against `tracker scan` (globs match "
                + "an entry's path or any tail of it after a '/', e.g. 'MPL-2.0' or 'docs/*.md')"
        case .noTrainingDocuments(let globs):
            return "--val-files \(globs.map { "'\($0)'" }.joined(separator: " ")) held out every document: "
                + "nothing is left to train on; hold out fewer files"
        case .allValidation(let fraction, let documents):
            return "--val-fraction \(fraction) put all \(documents) documents in the validation split: nothing is "
                + "left to train on; give a smaller fraction"
        case .memoryBudgetOutOfRange(let typed):
            return "--memory-budget \(typed) is out of range: it must be between "
                + "\(IngestLimits.memoryBudgetMiB.lowerBound)M and \(IngestLimits.memoryBudgetMiB.upperBound >> 10)G"
        case .badName(let n):
            return "corpus name '\(n)' must be 1-64 characters of letters, digits, '.', '_' or '-'"
        case .outOfRange(let option, let value, let range):
            return "\(option) \(value) is out of range: it must be between \(range.lowerBound) and \(range.upperBound)"
        case .sourcesChanged(let paths):
            return
                "the sources changed while they were being read (\(paths.joined(separator: ", "))): nothing was recorded; run the ingest again when they are no longer being written"
        case .trainerOverBudget(let words, let needed, let budget):
            return "the BPE trainer needs about \(needed) MiB for the \(words) distinct words counted, more than "
                + "--memory-budget \(budget) MiB: pass --memory-budget \(needed + needed / 4)M or more (the trainer holds "
                + "every distinct word; --min-frequency does not make it hold fewer)"
        case .lockFailed(let path, let reason):
            return "\(path): cannot take the ingest lock (\(reason)): check that the workspace folder is writable"
        case .filesMissing(let corpus, let path):
            return
                "corpus '\(corpus)' is recorded but \(path) is missing or changed: run the same ingest with --force to rebuild it"
        }
    }
}
