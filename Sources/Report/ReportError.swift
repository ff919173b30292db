// Why a report or export could not be produced, worded so the user knows what to do next (what
// the Store could not read, a run that does not exist say, is a StoreError).

/// Every error the Report module throws.
public enum ReportError: Error, CustomStringConvertible, Equatable {
    /// A `--where` expression that does not parse; `column` is 1-based.
    case badFilter(expression: String, column: Int, message: String)
    /// A `--sort` key that names nothing.
    case badSortKey(String)
    case noRuns(String)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .badFilter(let expression, let column, let message):
            let caret = String(repeating: " ", count: max(0, column - 1)) + "^"
            return "--where: \(message) at column \(column)\n  \(expression)\n  \(caret)"
        case .badSortKey(let key):
            return
                "--sort: '\(key)' is not a column, parameter, tag or metric of these runs; use e.g. 'name', 'val/loss.min', 'train.lr' or 'tag.note'"
        case .noRuns(let what):
            return "no runs match \(what); loosen --experiment, --state or --where"
        case .cannotWrite(let path, let reason):
            return "cannot write \(path): \(reason) (check the folder exists and is writable)"
        }
    }
}
