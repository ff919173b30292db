// Renderers: NaN and infinities spelled out everywhere, CSV quoting, JSON structure, a terminal
// chart, and an HTML page that is self-contained and well-formed.
import Foundation
import Store
import Testing

@testable import Report

struct RenderTests {
    let doc = ReportDocument(
        title: "t",
        sections: [
            .table(
                ReportTable(
                    title: "numbers", columns: ["name", "loss", "speed", "agg"],
                    rows: [
                        [
                            .text("a,\"b\""), .number(.nan, .fixed(4)), .number(.infinity, .count),
                            .meanStd(1, 0.5, .fixed(2)),
                        ],
                        [
                            .text("c|d"), .number(-.infinity, .fixed(4)), .number(12345, .count),
                            .meanStd(2, nil, .fixed(2)),
                        ],
                        [.text("e"), .missing, .number(3.25, .fixed(4)), .missing],
                    ])),
            .chart(
                ReportChart(
                    title: "curve", metric: "val/loss",
                    series: [
                        .init(
                            name: "one",
                            points: [.init(step: 0, value: 4), .init(step: 5, value: .nan), .init(step: 10, value: 2)]),
                        .init(name: "two", points: [.init(step: 0, value: 5), .init(step: 10, value: 3)]),
                    ])),
            .note("a <note> & more"),
        ])

    @Test func textSpellsOutNaNAndInfinity() {
        guard case .table(let t) = doc.sections[0] else {
            Issue.record("section 0 is not a table")
            return
        }
        #expect(
            TextRenderer.alignedTable(t) == """
                name   loss   speed          agg
                -----  ----  ------  -----------
                a,"b"   nan     inf  1.00 ± 0.50
                c|d    -inf   12.3k         2.00
                e         -  3.2500            -
                """)
    }

    @Test func textTablesKeepOneLinePerRowAndAlignWideCharacters() {
        let t = ReportTable(
            title: "names", columns: ["run", "n"],
            rows: [
                [.text("a\nb\tc"), .int(1)], [.text("运行"), .int(2)], [.text("🚀x"), .int(3)],
                [.text("e\u{301}"), .int(4)],
            ])
        #expect(
            TextRenderer.alignedTable(t) == """
                run    n
                -----  -
                a b c  1
                运行   2
                🚀x    3
                e\u{301}      4
                """)
        let chart = ReportChart(
            title: "c", metric: "m",
            series: [.init(name: "lr\n0.1", points: [.init(step: 0, value: 1)]), .init(name: "运", points: [])])
        let legend = TerminalChart.render(chart, color: false).split(separator: "\n").suffix(2)
        #expect(legend.map { $0.prefix(11) } == ["  1  lr 0.1", "  2  运     "])
    }

    @Test func csvTitlesAreOneField() {
        let two = ReportDocument(
            title: "t",
            sections: [
                .table(ReportTable(title: "a, b (mean ± std)", columns: ["x"], rows: [[.int(1)]])),
                .table(ReportTable(title: "c", columns: ["y"], rows: [[.int(2)]])),
            ])
        #expect(two.render(.csv) == "\"# a, b (mean ± std)\"\nx\n1\n\n# c\ny\n2")
    }

    @Test func csvQuotesAndSplitsMeanStd() {
        #expect(
            doc.render(.csv) == #"""
                name,loss,speed,agg,agg std
                "a,""b""",nan,inf,1,0.5
                c|d,-inf,12345,2,
                e,,3.25,,
                """#)
    }

    @Test func markdownEscapesPipes() {
        #expect(doc.render(.markdown).contains("| c\\|d | -inf | 12.3k | 2.00 |"))
        #expect(doc.render(.markdown).contains("```\n"))
    }

    @Test func jsonIsTypedAndParses() throws {
        let text = doc.render(.json)
        let root = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(root["title"] as? String == "t")
        let sections = try #require(root["sections"] as? [[String: Any]])
        #expect(sections.map { $0["kind"] as? String } == ["table", "chart", "note"])
        let rows = try #require(sections[0]["rows"] as? [[String: Any]])
        #expect(rows[0]["loss"] as? String == "nan")
        #expect(rows[0]["speed"] as? String == "inf")
        #expect(rows[1]["loss"] as? String == "-inf")
        #expect(rows[1]["speed"] as? Double == 12345)
        #expect(rows[2]["loss"] is NSNull)
        #expect((rows[0]["agg"] as? [String: Any])?["std"] as? Double == 0.5)
        let series = try #require(sections[1]["series"] as? [[String: Any]])
        #expect((series[0]["points"] as? [[Any]])?[1][1] as? String == "nan")
        #expect(text.contains("\"columns\": [\n"))
    }

    @Test func terminalChartHasAxesEndsAndLegend() {
        guard case .chart(let c) = doc.sections[1] else {
            Issue.record("section 1 is not a chart")
            return
        }
        let lines = TerminalChart.render(c, color: false).split(separator: "\n", omittingEmptySubsequences: false).map(
            String.init)
        #expect(lines.count == TerminalChart.height + 4)
        #expect(lines[0].hasPrefix("5.00 ┤"))
        #expect(lines[TerminalChart.height - 1].hasPrefix("2.00 ┤"))
        #expect(lines[TerminalChart.height - 1].hasSuffix(" 1"))
        #expect(lines[TerminalChart.height + 1] == "      step 0" + String(repeating: " ", count: 52) + "10")
        #expect(lines[TerminalChart.height + 2].hasPrefix("  1  one  ▆▅▅"))
        #expect(lines[TerminalChart.height + 2].hasSuffix("4.00 → 2.00"))
        #expect(TerminalChart.render(c, color: true).contains("\u{1B}[34m"))
    }

    @Test func htmlIsSelfContainedAndBalanced() throws {
        let fixture = try Reports.compare(
            RunReader(db: try Fixture.database()), CompareQuery(selection: RunSelection(experiment: "sweep")))
        for html in [doc.render(.html), fixture.render(.html)] {
            #expect(html.hasPrefix("<!DOCTYPE html>"))
            #expect(html.contains("<svg"))
            #expect(html.contains("<polyline"))
            #expect(!html.lowercased().contains("http:") && !html.lowercased().contains("https:"))
            #expect(
                !html.lowercased().contains("<script") && !html.contains("<link") && !html.contains("@import")
                    && !html.contains("url("))
            #expect(try unbalancedTags(html) == [])
        }
        #expect(doc.render(.html).contains("a &lt;note&gt; &amp; more"))
    }

    /// Tags left open or closed out of order; void elements and self-closing tags are ignored.
    func unbalancedTags(_ html: String) throws -> [String] {
        let void: Set<String> = ["meta", "input", "br", "img", "hr", "link", "!doctype"]
        var stack: [String] = []
        var problems: [String] = []
        var rest = Substring(html)
        while let open = rest.firstIndex(of: "<") {
            guard let close = rest[open...].firstIndex(of: ">") else {
                problems.append("unclosed <")
                break
            }
            let tag = rest[rest.index(after: open)..<close]
            rest = rest[rest.index(after: close)...]
            if tag.hasSuffix("/") { continue }
            let name = tag.split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map { $0.lowercased() } ?? ""
            if name.hasPrefix("/") {
                let n = String(name.dropFirst())
                if stack.last == n {
                    stack.removeLast()
                } else {
                    problems.append("</\(n)> closes <\(stack.last ?? "nothing")>")
                }
            } else if !void.contains(name) {
                stack.append(name)
            }
        }
        return problems + stack.map { "<\($0)> never closed" }
    }
}
