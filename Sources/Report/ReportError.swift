// Why a report or export could not be produced, worded so the user knows what to do next (what
// the Store could not read, a run that does not exist say, is a StoreError).

/// Every error the Report module throws.
public enum ReportError: Error, CustomStringConvertible, Equatable {
    /// A `--where` expression that does not parse; `column` is 1-based.
    case badFilter(expression: String, column: Int, message: String)
    /// A `--sort` key that names nothing.
    case badSortKey(String)
    /// A --group-by key that is no parameter of the compared runs (and the ones that differ).
    case badGroupKey(String, differing: [String])
    case noRuns(String)
    /// A page of the run table that starts past its last run.
    case pastTheEnd(offset: Int, total: Int)
    case cannotWrite(path: String, reason: String)
    /// A claims file (`report --results`) that does not say what it must; the message names the key.
    case badClaims(String)

    public var description: String {
        switch self {
        case .badFilter(let expression, let column, let message):
            // A long expression is shown as the 80 characters around the column, so the message
            // stays a few lines however long the expression is.
            let chars = Array(expression)
            let from = chars.count > 80 ? max(0, min(column - 41, chars.count - 80)) : 0
            let to = min(chars.count, from + 80)
            let shown = (from > 0 ? "..." : "") + String(chars[from..<to]) + (to < chars.count ? "..." : "")
            let caret = String(repeating: " ", count: max(0, column - 1 - from + (from > 0 ? 3 : 0))) + "^"
            return "--where: \(message) at column \(column)\n  \(shown)\n  \(caret)"
        case .badSortKey(let key):
            return
                "--sort: '\(key)' is not a column, parameter, tag or metric of these runs; use e.g. 'name', 'val/loss.min', 'train.lr' or 'tag.note'"
        case .badGroupKey(let key, let differing):
            let hint =
                differing.isEmpty
                ? "these runs differ in no parameter but their seeds"
                : "they differ in " + differing.prefix(8).joined(separator: ", ") + (differing.count > 8 ? ", ..." : "")
            return "--group-by: '\(key)' is not a parameter of these runs; \(hint)"
        case .pastTheEnd(let offset, let total):
            return "the selection has \(total) runs, fewer than the \(offset) skipped; ask for an earlier page"
        case .noRuns(let what):
            return "no runs match \(what); loosen --experiment, --state or --where"
        case .cannotWrite(let path, let reason):
            return "cannot write \(path): \(reason) (check the folder exists and is writable)"
        case .badClaims(let message):
            return "claims file: \(message)"
        }
    }
}
