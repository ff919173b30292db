// The HTML report: one self-contained file (inline CSS and SVG, no scripts, fonts or links) that
// reads well offline and prints. Each chart is drawn twice, linear and log scale; a checkbox
// styled by CSS alone switches between them, starting from the scale the report was asked for.
// `tracker serve` builds its pages from the same pieces (page, body, table, escape), adding only
// links (sortable headers, run names) and a little script of its own.

/// Links a served page adds to a rendered document; the static report has none.
public struct HTMLLinks: Sendable {
    /// The href of a column's header (to sort by it), or nil for plain text.
    public var header: @Sendable (_ table: ReportTable, _ column: Int) -> String?
    /// The href of a cell (a run's page, say), or nil for plain text.
    public var cell: @Sendable (_ table: ReportTable, _ row: Int, _ column: Int) -> String?

    public init(
        header: @escaping @Sendable (ReportTable, Int) -> String? = { _, _ in nil },
        cell: @escaping @Sendable (ReportTable, Int, Int) -> String? = { _, _, _ in nil }
    ) {
        self.header = header
        self.cell = cell
    }

    public static let none = HTMLLinks()
}

public enum HTMLRenderer {
    static func render(_ doc: ReportDocument) -> String {
        page(
            title: doc.title, body: body(doc),
            footer: "Written by tracker. Self-contained: no scripts, no external resources.")
    }

    /// The document's title, `afterTitle` (trusted HTML) and its sections; tables get `links`.
    public static func body(_ doc: ReportDocument, links: HTMLLinks = .none, afterTitle: String = "") -> String {
        var body = "<h1>\(escape(doc.title))</h1>\n" + afterTitle
        for (i, section) in doc.sections.enumerated() {
            switch section {
            case .table(let t):
                body += "<section>\n<h2>\(escape(t.title))</h2>\n\(table(t, links: links))</section>\n"
            case .chart(let c):
                let id = "log\(i)"
                body += """
                    <section class="chart">
                    <h2>\(escape(c.title))</h2>
                    <input type="checkbox" id="\(id)" class="logtoggle"\(c.logScale ? " checked" : "")><label for="\(id)">log scale</label>
                    <div class="linear">\(SVGPlot.render(c, logScale: false))</div>
                    <div class="log">\(SVGPlot.render(c, logScale: true))</div>
                    </section>

                    """
            case .note(let n):
                body += "<p class=\"note\">\(escape(n))</p>\n"
            }
        }
        return body
    }

    /// A whole page: `header` (trusted HTML) above `body` (trusted HTML), then an escaped footer
    /// and the script at `scriptURL`, if any. Every piece of data in them must be escaped.
    public static func page(
        title: String, header: String = "", body: String, footer: String, scriptURL: String? = nil
    ) -> String {
        let scriptTag = scriptURL.map { "<script src=\"\(escape($0))\"></script>\n" } ?? ""
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title>
            <style>
            \(css)
            </style>
            </head>
            <body>
            \(header)<main>
            \(body)<footer>\(escape(footer))</footer>
            </main>
            \(scriptTag)</body>
            </html>

            """
    }

    /// A table; an empty one is the word "none".
    public static func table(_ t: ReportTable, links: HTMLLinks = .none) -> String {
        if t.rows.isEmpty { return "<p class=\"empty\">none</p>\n" }
        let numeric = t.columns.indices.map(t.isNumericColumn)
        var out = "<div class=\"scroll\"><table>\n<thead><tr>"
        for (i, c) in t.columns.enumerated() {
            out += "<th\(numeric[i] ? " class=\"num\"" : "")>\(link(escape(c), links.header(t, i)))</th>"
        }
        out += "</tr></thead>\n<tbody>\n"
        for (r, row) in t.rows.enumerated() {
            out += "<tr>"
            for (i, cell) in row.enumerated() {
                var classes: [String] = []
                if numeric[i] { classes.append("num") }
                if cell == .missing { classes.append("missing") }
                if case .number(let v, _) = cell, !v.isFinite { classes.append("bad") }
                if case .text(let s) = cell, ["failed", "crashed", "cancelled"].contains(s) { classes.append("bad") }
                if let mark = cell.mark { classes.append(mark.rawValue) }
                let attr = classes.isEmpty ? "" : " class=\"\(classes.joined(separator: " "))\""
                out += "<td\(attr)>\(link(escape(cell.display), links.cell(t, r, i)))</td>"
            }
            out += "</tr>\n"
        }
        return out + "</tbody>\n</table></div>\n"
    }

    /// `html` inside a link to `href` (escaped here), or as it is when there is none.
    static func link(_ html: String, _ href: String?) -> String {
        href.map { "<a href=\"\(escape($0))\">\(html)</a>" } ?? html
    }

    /// Text with the five characters that mean something in HTML (also inside attributes) escaped.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    public static let css = """
        :root { color-scheme: light; }
        body { margin: 0; background: #f6f7f9; color: #1d2330;
          font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
        main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 40px; }
        h1 { font-size: 22px; margin: 0 0 18px; font-weight: 650; }
        h2 { font-size: 15px; margin: 0 0 10px; font-weight: 600; color: #2b3446; }
        section { background: #fff; border: 1px solid #dfe3ea; border-radius: 6px; padding: 14px 16px; margin: 0 0 16px; }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; font-size: 13px; }
        th, td { padding: 4px 10px 4px 0; text-align: left; white-space: nowrap; vertical-align: top; }
        th { font-weight: 600; color: #4a5468; border-bottom: 1px solid #c9cfda; }
        tbody tr:nth-child(even) td { background: #f7f8fb; }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; padding-left: 10px; }
        td.missing { color: #9aa3b2; }
        td.bad { color: #b42318; font-weight: 600; }
        td.best { font-weight: 650; color: #1a6b35; }
        td.apart { color: #6b7385; }
        p.note { color: #4a5468; margin: -6px 0 16px 2px; }
        p.empty { color: #9aa3b2; margin: 0; }
        footer { color: #8a93a3; font-size: 12px; margin-top: 24px; }
        .chart svg { max-width: 100%; height: auto; display: block; }
        .chart .log { display: none; }
        .logtoggle:checked ~ .linear { display: none; }
        .logtoggle:checked ~ .log { display: block; }
        .chart label { font-size: 12px; color: #4a5468; margin-left: 4px; }
        .logtoggle { margin: 0 0 8px; vertical-align: middle; }
        svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: #4a5468; }
        svg .plot { fill: #fff; }
        svg .grid { stroke: #e6e9ef; stroke-width: 1; }
        svg .axis { stroke: #8a93a3; stroke-width: 1; }
        svg .ytick { text-anchor: end; dominant-baseline: middle; }
        svg .xtick, svg .xlabel, svg .ylabel { text-anchor: middle; }
        svg .curve { fill: none; stroke-width: 1.8; stroke-linejoin: round; }
        svg .legend rect { fill: #fff; fill-opacity: 0.92; stroke: #dfe3ea; }
        svg .legend text { dominant-baseline: middle; fill: #1d2330; }
        a { color: #2f5fa7; text-decoration: none; }
        a:hover { text-decoration: underline; }
        nav.top { background: #1d2330; padding: 9px 28px; font-size: 14px; }
        nav.top a { color: #fff; margin-right: 20px; font-weight: 600; }
        nav.top .live { color: #9aa3b2; font-size: 12px; float: right; }
        .bar { margin: -8px 0 14px; font-size: 13px; color: #4a5468; }
        .bar a { margin-right: 10px; }
        form.filter { margin: 0 0 14px; font-size: 13px; }
        form.filter input[type=text] { width: 380px; font: 13px ui-monospace, monospace; }
        svg .band { stroke: none; fill-opacity: 0.16; }
        svg .pts circle { fill-opacity: 0; stroke: none; }
        svg .pts circle:hover { fill-opacity: 1; }
        @media print { body { background: #fff; } section { break-inside: avoid; } .logtoggle, .chart label { display: none; } }
        """
}
