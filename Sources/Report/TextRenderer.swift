// Plain-text renderers: an aligned terminal table, CSV (RFC 4180 quoting, full-precision numbers)
// and GitHub-flavoured Markdown. Charts become braille plots in the table and Markdown formats and
// are left out of CSV, which carries only tables.

import Basics
import Foundation

enum TextRenderer {
    // MARK: - Terminal table

    /// The title, then each section, separated by blank lines. Every table's cells are written
    /// before anything is joined, so the text is built once in a buffer of about its size (the
    /// comparison of 10,000 runs prints about 1.8 MB) instead of joining copies of it.
    static func table(_ doc: ReportDocument, color: Bool) -> String {
        String(decoding: tableUTF8(doc, color: color), as: UTF8.self)
    }

    /// `table` as UTF-8 bytes, before it becomes a String.
    static func tableUTF8(_ doc: ReportDocument, color: Bool) -> [UInt8] {
        var parts: [Part] = [.text(doc.title)]
        for section in doc.sections {
            switch section {
            case .table(let t): parts += [.text(t.title), .table(AlignedTable(t))]
            case .chart(let c): parts += [.text(c.title), .text(TerminalChart.render(c, color: color))]
            case .note(let n): parts.append(.text(n))
            }
        }
        var size = 2 * (parts.count - 1)  // the blank lines
        for part in parts {
            switch part {
            case .text(let s): size += s.utf8.count
            case .table(let t): size += t.capacity
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        for (i, part) in parts.enumerated() {
            if i > 0 { out.append(contentsOf: "\n\n".utf8) }
            switch part {
            case .text(let s): out.append(contentsOf: s.utf8)
            case .table(let t): t.write(to: &out)
            }
        }
        return out
    }

    /// A piece of the terminal text: plain text, or a table laid out and not yet written.
    enum Part {
        case text(String)
        case table(AlignedTable)
    }

    /// Columns separated by two spaces, numbers right-aligned, header underlined.
    static func alignedTable(_ t: ReportTable) -> String {
        let table = AlignedTable(t)
        var out: [UInt8] = []
        out.reserveCapacity(table.capacity)
        table.write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A table laid out for the terminal: columns separated by two spaces, numbers right-aligned,
    /// header underlined. Widths count Unicode scalars (every character we print is one column
    /// wide), which is much cheaper than counting grapheme clusters over tens of thousands of
    /// cells; cells are written as UTF-8 bytes (a 10,000-run table has over 100,000 cells), on
    /// two threads for large tables.
    struct AlignedTable {
        /// The header's cells, then the rows' in one or two blocks.
        let blocks: [CellBytes]
        let widths: [Int]
        let numeric: [Bool]
        /// At least as many bytes as `write` appends (a text last column is not padded).
        let capacity: Int

        init(_ t: ReportTable) {
            let n = t.columns.count
            let rows = t.rows
            let parts = rows.count >= 2000 ? 2 : 1
            let slots = ResultSlots<CellBytes>(count: parts + 1)
            slots[0] = CellBytes(t.columns.map(Cell.text))
            if !rows.isEmpty {
                DispatchQueue.concurrentPerform(iterations: parts) { part in
                    let range = (rows.count * part / parts)..<(rows.count * (part + 1) / parts)
                    var cells = CellBytes()
                    cells.reserve(cells: range.count * n)
                    for row in rows[range] {
                        precondition(row.count == n, "a table row has \(row.count) cells for \(n) columns")
                        for cell in row { cells.append(cell) }
                    }
                    slots[part + 1] = cells
                }
            }
            blocks = rows.isEmpty ? [] : slots.values.map { $0! }
            numeric = t.columns.indices.map(t.isNumericColumn)
            var widths = [Int](repeating: 0, count: n)
            for block in blocks {
                for (i, len) in block.lengths.enumerated() { widths[i % n] = max(widths[i % n], len) }
            }
            self.widths = widths
            // Every line holds each column's width plus two spaces between columns (cells are
            // padded with spaces, one byte each; a cell's bytes beyond its width are extra).
            let extra = blocks.reduce(0) { sum, b in sum + b.bytes.count - b.lengths.reduce(0, +) }
            let lines = blocks.reduce(1) { $0 + $1.lengths.count / max(n, 1) }
            capacity =
                blocks.isEmpty ? "(none)".utf8.count : lines * (widths.reduce(0, +) + 2 * (n - 1) + 1) - 1 + extra
        }

        /// Appends the table's text (no newline after its last line).
        func write(to out: inout [UInt8]) {
            guard let header = blocks.first else { return out.append(contentsOf: "(none)".utf8) }
            let n = widths.count
            let space = UInt8(ascii: " ")
            func append(_ block: CellBytes, row r: Int) {
                for i in 0..<n {
                    let c = r * n + i
                    let pad = widths[i] - block.lengths[c]
                    if i > 0 {
                        out.append(space)
                        out.append(space)
                    }
                    if numeric[i] { out.append(contentsOf: repeatElement(space, count: pad)) }
                    out.append(contentsOf: block.bytes[Int(block.ends[c] - block.sizes(c))..<Int(block.ends[c])])
                    if !numeric[i] && i < n - 1 { out.append(contentsOf: repeatElement(space, count: pad)) }
                }
            }
            append(header, row: 0)
            out.append(UInt8(ascii: "\n"))
            for i in 0..<n {
                if i > 0 {
                    out.append(space)
                    out.append(space)
                }
                out.append(contentsOf: repeatElement(UInt8(ascii: "-"), count: widths[i]))
            }
            for block in blocks.dropFirst() {
                for r in 0..<(block.lengths.count / n) {
                    out.append(UInt8(ascii: "\n"))
                    append(block, row: r)
                }
            }
        }
    }

    /// Cells written one after another as UTF-8, with where each ends and its width in scalars.
    struct CellBytes {
        var bytes: [UInt8] = []
        var ends: [Int32] = []
        var lengths: [Int] = []

        init() {}

        init(_ cells: [Cell]) { for c in cells { append(c) } }

        mutating func reserve(cells: Int) {
            bytes.reserveCapacity(cells * 8)
            ends.reserveCapacity(cells)
            lengths.reserveCapacity(cells)
        }

        mutating func append(_ cell: Cell) {
            let start = bytes.count
            cell.write(to: &bytes)
            // A line break or another control character in a name or value would break the
            // table's lines: each shows as a space, as the Markdown output shows them.
            for i in start..<bytes.count where bytes[i] < 0x20 || bytes[i] == 0x7F { bytes[i] = 0x20 }
            ends.append(Int32(bytes.count))
            lengths.append(TextRenderer.displayWidth(bytes[start...]))
        }

        /// The byte count of cell c.
        func sizes(_ c: Int) -> Int32 { ends[c] - (c == 0 ? 0 : ends[c - 1]) }
    }

    /// The columns UTF-8 text takes in a terminal: one per scalar, two for the East Asian wide
    /// and fullwidth ones (CJK, Hangul, fullwidth forms, most emoji), none for combining marks,
    /// joiners and variation selectors, so tables of such names stay aligned.
    static func displayWidth(_ utf8: ArraySlice<UInt8>) -> Int {
        if utf8.allSatisfy({ $0 < 0x80 }) { return utf8.count }
        var width = 0
        for scalar in String(decoding: utf8, as: UTF8.self).unicodeScalars { width += columns(scalar.value) }
        return width
    }

    /// A string's `displayWidth`.
    static func displayWidth(_ text: String) -> Int { displayWidth(ArraySlice(text.utf8)) }

    /// The columns of one scalar (see `displayWidth`).
    static func columns(_ v: UInt32) -> Int {
        switch v {
        case 0x0300...0x036F, 0x1AB0...0x1AFF, 0x1DC0...0x1DFF, 0x200B...0x200F, 0x20D0...0x20FF, 0xFE00...0xFE0F,
            0xFE20...0xFE2F, 0xE0100...0xE01EF:
            return 0
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
            0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F,
            0x1F680...0x1F6FF,
            0x1F900...0x1F9FF, 0x1FA70...0x1FAFF, 0x20000...0x3FFFD:
            return 2
        default:
            return 1
        }
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
            if tables.count > 1 { lines.append(csvField("# " + t.title)) }  // one field, commas and all
            let split = t.columns.indices.map { i in
                t.rows.contains { if case .meanStd = $0[i].unmarked { true } else { false } }
            }
            let marked = t.columns.indices.map { i in t.rows.contains { $0[i].mark != nil } }
            var header: [String] = []
            for (i, name) in t.columns.enumerated() {
                header.append(name)
                if split[i] { header.append(name + " std") }
                if marked[i] { header.append(name + " mark") }
            }
            lines.append(header.map(csvField).joined(separator: ","))
            for row in t.rows {
                var fields: [String] = []
                for (i, cell) in row.enumerated() {
                    switch cell.unmarked {
                    case .meanStd(let m, let s, _):
                        fields.append(formatShortest(m))
                        fields.append(s.map(formatShortest) ?? "")
                    default:
                        fields.append(csvValue(cell))
                        if split[i] { fields.append("") }
                    }
                    if marked[i] { fields.append(cell.mark?.rawValue ?? "") }
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
        case .marked(let c, _): return csvValue(c)
        case .missing: return ""
        }
    }

    /// One CSV field, quoted when needed. Text a spreadsheet would run as a formula (starting with
    /// = + - @, tab or CR) gets a leading single quote, as OWASP advises against CSV injection;
    /// numbers such as -0.5 or -inf are left as they are, so they still read back as numbers.
    static func csvField(_ field: String) -> String {
        var s = field
        if let c = s.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(c), Double(s) == nil { s = "'" + s }
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
            case "|", "*", "`", "<", ">", "\\":
                out.append("\\")
                out.append(c)
            case "\n": out.append(" ")
            default: out.append(c)
            }
        }
        return out
    }
}
