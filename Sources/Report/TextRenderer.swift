// Plain-text renderers: an aligned terminal table, CSV (RFC 4180 quoting, full-precision numbers)
// and GitHub-flavoured Markdown. Charts become braille plots in the table and Markdown formats and
// are left out of CSV, which carries only tables.

enum TextRenderer {
    // MARK: - Terminal table

    static func table(_ doc: ReportDocument, color: Bool) -> String {
        var parts: [String] = [doc.title]
        for section in doc.sections {
            switch section {
            case .table(let t):
                parts.append(t.title)
                parts.append(alignedTable(t))
            case .chart(let c):
                parts.append(c.title)
                parts.append(TerminalChart.render(c, color: color))
            case .note(let n):
                parts.append(n)
            }
        }
        return parts.joined(separator: "\n\n")
    }

    /// Columns separated by two spaces, numbers right-aligned, header underlined. Widths count
    /// Unicode scalars (every character we print is one column wide), which is much cheaper than
    /// counting grapheme clusters over tens of thousands of cells.
    static func alignedTable(_ t: ReportTable) -> String {
        if t.rows.isEmpty { return "(none)" }
        let cells = t.rows.map { $0.map(\.display) }
        let lengths = cells.map { $0.map(\.unicodeScalars.count) }
        let numeric = t.columns.indices.map(t.isNumericColumn)
        let widths = t.columns.indices.map { i in
            max(t.columns[i].unicodeScalars.count, lengths.map { $0[i] }.max() ?? 0)
        }
        let lineWidth = widths.reduce(0, +) + 2 * widths.count
        var out = ""
        out.reserveCapacity((cells.count + 2) * (lineWidth + 1) * 2)
        func append(_ r: [String], _ lens: [Int]) {
            for i in r.indices {
                let pad = widths[i] - lens[i]
                if i > 0 { out += "  " }
                if numeric[i] {
                    for _ in 0..<pad { out += " " }
                    out += r[i]
                } else {
                    out += r[i]
                    if i < r.count - 1 { for _ in 0..<pad { out += " " } }
                }
            }
        }
        append(t.columns, t.columns.map(\.unicodeScalars.count))
        out += "\n" + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        for (r, lens) in zip(cells, lengths) {
            out += "\n"
            append(r, lens)
        }
        return out
    }

    // MARK: - CSV

    /// One table is plain CSV; several are separated by a blank line, each under a `# title` line.
    /// A mean ± std column becomes two columns, `NAME` and `NAME std`.
    static func csv(_ doc: ReportDocument) -> String {
        let tables = doc.sections.compactMap { s -> ReportTable? in
            if case .table(let t) = s { return t }
            return nil
        }
        var blocks: [String] = []
        for t in tables {
            var lines: [String] = []
            if tables.count > 1 { lines.append("# " + t.title) }
            let split = t.columns.indices.map { i in t.rows.contains { if case .meanStd = $0[i] { true } else { false } } }
            var header: [String] = []
            for (i, name) in t.columns.enumerated() {
                header.append(name)
                if split[i] { header.append(name + " std") }
            }
            lines.append(header.map(csvField).joined(separator: ","))
            for row in t.rows {
                var fields: [String] = []
                for (i, cell) in row.enumerated() {
                    switch cell {
                    case .meanStd(let m, let s, _):
                        fields.append(formatShortest(m))
                        fields.append(s.map(formatShortest) ?? "")
                    default:
                        fields.append(csvValue(cell))
                        if split[i] { fields.append("") }
                    }
                }
                lines.append(fields.map(csvField).joined(separator: ","))
            }
            blocks.append(lines.joined(separator: "\n"))
        }
        return blocks.joined(separator: "\n\n")
    }

    static func csvValue(_ cell: Cell) -> String {
        switch cell {
        case .text(let s): return s
        case .int(let v): return String(v)
        case .number(let v, _): return formatShortest(v)
        case .meanStd(let m, _, _): return formatShortest(m)
        case .missing: return ""
        }
    }

    static func csvField(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    // MARK: - Markdown

    static func markdown(_ doc: ReportDocument) -> String {
        var parts: [String] = ["# " + markdownText(doc.title)]
        for section in doc.sections {
            switch section {
            case .table(let t):
                parts.append("## " + markdownText(t.title))
                parts.append(markdownTable(t))
            case .chart(let c):
                parts.append("## " + markdownText(c.title))
                parts.append("```\n" + TerminalChart.render(c, color: false) + "\n```")
            case .note(let n):
                parts.append(markdownText(n))
            }
        }
        return parts.joined(separator: "\n\n")
    }

    static func markdownTable(_ t: ReportTable) -> String {
        if t.rows.isEmpty { return "_none_" }
        let header = "| " + t.columns.map(markdownText).joined(separator: " | ") + " |"
        let rule = "|" + t.columns.indices.map { t.isNumericColumn($0) ? "---:|" : "---|" }.joined()
        let rows = t.rows.map { "| " + $0.map { markdownText($0.display) }.joined(separator: " | ") + " |" }
        return ([header, rule] + rows).joined(separator: "\n")
    }

    /// Escapes the characters that would end a cell or start formatting.
    static func markdownText(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "|", "*", "`", "<", ">", "\\": out.append("\\"); out.append(c)
            case "\n": out.append(" ")
            default: out.append(c)
            }
        }
        return out
    }
}
