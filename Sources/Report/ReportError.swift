// Why a report, export or import could not be produced, worded so the user knows what to do next.

/// Every error the Report module throws.
public enum ReportError: Error, CustomStringConvertible, Equatable {
    /// A `--where` expression that does not parse; `column` is 1-based.
    case badFilter(expression: String, column: Int, message: String)
    /// A `--sort` key that names nothing.
    case badSortKey(String)
    case runNotFound(String)
    case ambiguousRun(name: String, ids: [Int64])
    case experimentNotFound(String)
    case noRuns(String)
    /// A line of an import file that cannot be used; `line` is 1-based.
    case badImportLine(file: String, line: Int, message: String)
    case cannotRead(path: String, reason: String)
    case cannotWrite(path: String, reason: String)
    case database(String)

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
        case .runNotFound(let run):
            return "no run named or numbered '\(run)' (list runs with `tracker report`)"
        case .ambiguousRun(let name, let ids):
            let list = ids.map(String.init).joined(separator: ", ")
            return "several runs are named '\(name)' (ids \(list)); name the run by its id"
        case .experimentNotFound(let name):
            return "no experiment named '\(name)' (list runs with `tracker report` to see the experiments)"
        case .noRuns(let what):
            return "no runs match \(what); loosen --experiment, --state or --where"
        case .badImportLine(let file, let line, let message):
            return
                "\(file):\(line): \(message); each line must be {\"run\": NAME, \"params\": {...}, \"tags\": {...}} or {\"run\": NAME, \"step\": N, \"metrics\": {KEY: NUMBER}}"
        case .cannotRead(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .cannotWrite(let path, let reason):
            return "cannot write \(path): \(reason) (check the folder exists and is writable)"
        case .database(let message):
            return "database error while reporting: \(message)"
        }
    }
}
