// The format-independent shape of every report: a title and a list of sections (tables, charts,
// notes) whose cells keep their numbers typed. Renderers turn it into table, CSV, Markdown, JSON
// or HTML text, so all five formats always show the same facts.
import Basics
import Store

/// The output formats every report supports.
public enum ReportFormat: String, Sendable, CaseIterable {
    case table, csv, json, markdown, html
}

/// How a number is shown to a person (CSV and JSON always get the full value).
public enum NumberStyle: Sendable, Equatable {
    case fixed(Int)
    case count
    case duration
    case shortest
}

/// A comparison mark on a mean ± std cell of a group table (the legend is `Reports.markLegend`).
public enum CellMark: String, Sendable, Equatable {
    /// The column's best mean.
    case best
    /// A mean that differs from the column's best by more than the sum of the two deviations.
    case apart

    public var symbol: String { self == .best ? "▲" : "▼" }
}

/// One table cell. Only `.marked` is boxed: a 10,000-run table has 140,000 cells, and boxing
/// each of them cost an allocation and a free apiece.
public enum Cell: Sendable, Equatable {
    case text(String)
    case int(Int64)
    case number(Double, NumberStyle)
    /// A mean with its sample standard deviation (nil when there is one value).
    case meanStd(Double, Double?, NumberStyle)
    /// A cell with a comparison mark.
    indirect case marked(Cell, CellMark)
    case missing

    var isNumeric: Bool {
        switch self {
        case .int, .number, .meanStd: return true
        case .marked(let c, _): return c.isNumeric
        case .text, .missing: return false
        }
    }

    /// The cell without its mark.
    public var unmarked: Cell {
        if case .marked(let c, _) = self { return c }
        return self
    }

    public var mark: CellMark? {
        if case .marked(_, let m) = self { return m }
        return nil
    }

    /// The value as a person reads it in a table: nan/inf spelled out, missing as "-".
    public var display: String {
        if case .text(let s) = self { return s }
        var out: [UInt8] = []
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `display` to `out` as UTF-8 (no String for the whole cell: the aligned table of
    /// a 10,000-run comparison writes 140,000 cells).
    func write(to out: inout [UInt8]) {
        switch self {
        case .text(let s): out.append(contentsOf: s.utf8)
        case .int(let v): appendInteger(v, to: &out)
        case .number(let v, let style): Self.write(v, style, to: &out)
        case .meanStd(let m, let s, let style):
            Self.write(m, style, to: &out)
            if let s {
                out.append(contentsOf: " ± ".utf8)
                Self.write(s, style, to: &out)
            }
        case .marked(let c, let mark):
            c.write(to: &out)
            out.append(UInt8(ascii: " "))
            out.append(contentsOf: mark.symbol.utf8)
        case .missing: out.append(UInt8(ascii: "-"))
        }
    }

    static func write(_ v: Double, _ style: NumberStyle, to out: inout [UInt8]) {
        if v.isFinite, case .fixed(let digits) = style { return appendFixed(v, digits, to: &out) }
        out.append(contentsOf: format(v, style).utf8)
    }

    static func format(_ v: Double, _ style: NumberStyle) -> String {
        if !v.isFinite { return formatShortest(v) }
        switch style {
        case .fixed(let digits): return formatFixed(v, digits)
        case .count: return formatCount(v)
        case .duration: return formatDuration(v)
        case .shortest: return formatShortest(v)
        }
    }
}

/// A titled table; numeric columns are right-aligned in text formats.
public struct ReportTable: Sendable, Equatable {
    public var title: String
    public var columns: [String]
    public var rows: [[Cell]]

    public init(title: String, columns: [String], rows: [[Cell]]) {
        self.title = title
        self.columns = columns
        self.rows = rows
    }

    /// A column is numeric when every non-missing cell in it is a number.
    func isNumericColumn(_ i: Int) -> Bool {
        var any = false
        for row in rows {
            switch row[i] {
            case .missing: continue
            case let c where c.isNumeric: any = true
            default: return false
            }
        }
        return any
    }
}

/// Curves of one metric over steps, one series per run or group; or, with `xLabels`, over
/// named positions (position buckets), a point's step being the index of its label.
public struct ReportChart: Sendable, Equatable {
    /// The spread around a mean curve at one x: mean ± std over a group's runs.
    public struct Band: Sendable, Equatable {
        public var step: Int64
        public var low: Double
        public var high: Double
        public init(step: Int64, low: Double, high: Double) {
            self.step = step
            self.low = low
            self.high = high
        }
    }

    public struct Series: Sendable, Equatable {
        public var name: String
        public var points: [HistoryPoint]
        /// Drawn as a shaded band behind the curve (HTML); empty for a single run.
        public var band: [Band]
        public init(name: String, points: [HistoryPoint], band: [Band] = []) {
            self.name = name
            self.points = points
            self.band = band
        }
    }
    public var title: String
    public var metric: String
    public var series: [Series]
    public var logScale: Bool
    /// Labels of the x positions 0, 1, 2, ... (empty: x is the training step).
    public var xLabels: [String]
    public var xTitle: String

    public init(
        title: String, metric: String, series: [Series], logScale: Bool = false, xLabels: [String] = [],
        xTitle: String = "step"
    ) {
        self.title = title
        self.metric = metric
        self.series = series
        self.logScale = logScale
        self.xLabels = xLabels
        self.xTitle = xTitle
    }
}

public enum ReportSection: Sendable, Equatable {
    case table(ReportTable)
    case chart(ReportChart)
    case note(String)
}

public struct ReportDocument: Sendable, Equatable {
    public var title: String
    public var sections: [ReportSection]

    public init(title: String, sections: [ReportSection]) {
        self.title = title
        self.sections = sections
    }

    /// The document in `format`; `color` adds ANSI colours to terminal charts (table format only).
    public func render(_ format: ReportFormat, color: Bool = false) -> String {
        switch format {
        case .table: return TextRenderer.table(self, color: color)
        case .csv: return TextRenderer.csv(self)
        case .markdown: return TextRenderer.markdown(self)
        case .json: return JSONRenderer.render(self)
        case .html: return HTMLRenderer.render(self)
        }
    }

    /// `render` as UTF-8 bytes: the terminal table is built as bytes, which a command writes out
    /// without making a String of them first (validating and copying 1.8 MB for 10,000 runs).
    public func renderUTF8(_ format: ReportFormat, color: Bool = false) -> [UInt8] {
        if format == .table { return TextRenderer.tableUTF8(self, color: color) }
        return Array(render(format, color: color).utf8)
    }
}

// MARK: - Number formatting

func formatCount(_ v: Double) -> String {
    if abs(v) >= 100 { return Format.count(Int64(v.rounded())) }
    return v == v.rounded() ? formatFixed(v, 0) : formatFixed(v, 2)
}

func formatDuration(_ s: Double) -> String { Format.duration(s) }
