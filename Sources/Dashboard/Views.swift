// The documents behind the dashboard's views, built from the Store's reader and Report's
// builders, and the links and controls each view adds.
import Basics
import Foundation
import Report
import Store

extension Dashboard {
    /// Rows per page of the runs table unless `per` says otherwise.
    static let defaultPerPage = 50
    static let maxPerPage = 1000
    /// Lines of a run's log shown on its page.
    static let logTailLines = 60

    // MARK: - Experiments and the queue

    func experimentsPage() throws -> Page {
        let counts = try reader.stateCounts()
        // Every state the store knows, in the life-cycle order, then any other state found.
        var states = RunState.allCases.map(\.rawValue)
        for c in counts where !states.contains(c.state) { states.append(c.state) }
        var names: [String?] = try reader.db.experiments().map(\.name)
        for c in counts where !names.contains(c.experiment) { names.append(c.experiment) }
        let rows = names.map { name -> [Cell] in
            let mine = counts.filter { $0.experiment == name }
            let byState = states.map { s in Cell.int(Int64(mine.first { $0.state == s }?.count ?? 0)) }
            return [name.map(Cell.text) ?? .text("(no experiment)")] + byState
                + [.int(Int64(mine.reduce(0) { $0 + $1.count }))]
        }
        let experiments = ReportTable(title: "Experiments", columns: ["experiment"] + states + ["total"], rows: rows)
        let queue = try reader.queue()
        let queueRows = queue.map { q -> [Cell] in
            [
                .int(q.id), .text(q.name), q.experiment.map(Cell.text) ?? .missing, .text(q.state), .int(q.priority),
                .text("\(q.attempts)/\(q.maxAttempts)"), q.worker.map(Cell.text) ?? .missing,
                q.step.map(Cell.int) ?? .missing, .text(q.enqueuedAt), q.startedAt.map(Cell.text) ?? .missing,
            ]
        }
        let queueTable = ReportTable(
            title: "Queue: running, then queued in claim order",
            columns: [
                "id", "run", "experiment", "state", "priority", "attempts", "worker", "step", "enqueued", "started",
            ],
            rows: queueRows)
        let total = counts.reduce(0) { $0 + $1.count }
        let doc = ReportDocument(
            title: "tracker: \(names.compactMap { $0 }.count) experiments, \(total) runs",
            sections: [.table(experiments), .table(queueTable)])
        let (rowNames, columnStates) = (names, states)
        let links = HTMLLinks(cell: { table, r, c in
            if table.title == experiments.title {
                guard let name = rowNames[r] else { return nil }
                if c == 0 { return "/runs" + QueryString.encode([("experiment", name)]) }
                if c <= columnStates.count {
                    return "/runs" + QueryString.encode([("experiment", name), ("state", columnStates[c - 1])])
                }
                return nil
            }
            return Self.runLink(table, r, c)
        })
        var controls = ""
        let named = names.compactMap { $0 }
        if !named.isEmpty {
            let links = named.map { name -> String in
                let href = HTMLRenderer.escape("/compare" + QueryString.encode([("experiment", name)]))
                return "<a href=\"\(href)\">\(HTMLRenderer.escape(name))</a>"
            }
            controls = "<p class=\"bar\">Compare an experiment's runs: " + links.joined(separator: " ") + "</p>\n"
        }
        return Page(document: doc, links: links, controls: controls)
    }

    /// A link from a table's run name or id to the run's page, where the table has an id column.
    static func runLink(_ table: ReportTable, _ r: Int, _ c: Int) -> String? {
        guard ["run", "id"].contains(table.columns[c]), let idColumn = table.columns.firstIndex(of: "id"),
            case .int(let id) = table.rows[r][idColumn]
        else { return nil }
        return "/runs/\(id)"
    }

    // MARK: - The runs table

    /// The selection named by the query: experiment, state, where, runs.
    static func selection(_ query: QueryString) throws -> RunSelection {
        let filter = try query["where"].map(Filter.parse)
        let runs = query["runs"].map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        if let state = query["state"], !state.isEmpty, RunState(rawValue: state) == nil {
            // as `report --state` refuses it (a page of "0 runs (state bogus)" read as an answer)
            throw DashboardError.badRequest(
                "state must be one of " + RunState.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return RunSelection(experiment: query["experiment"], state: query["state"], filter: filter, runs: runs)
    }

    func runsPage(_ query: QueryString) throws -> Page {
        let per = try query.int("per", in: 1...Self.maxPerPage, fallback: Self.defaultPerPage)
        let page = try query.int("page", in: 1...1_000_000_000, fallback: 1)
        let sort = query["sort"]
        let desc = query.flag("desc")
        let listQuery = RunListQuery(
            selection: try Self.selection(query), sort: sort, descending: desc, limit: per, offset: (page - 1) * per)
        let (doc, total): (ReportDocument, Int)
        do {
            (doc, total) = try Reports.runPage(reader, listQuery)
        } catch ReportError.pastTheEnd(_, let total) {
            let last = max(1, (total + per - 1) / per)
            throw DashboardError.badRequest("page \(page) is past the last page (\(last)) of \(total) runs")
        }
        let pages = max(1, (total + per - 1) / per)
        let base: [(String, String?)] = [
            ("experiment", query["experiment"]), ("state", query["state"]), ("where", query["where"]),
            ("runs", query["runs"]),
        ]
        let perValue = per == Self.defaultPerPage ? nil : String(per)
        let links = HTMLLinks(
            header: { table, c in
                guard table.title == "Runs", let key = Reports.runListSortKey(column: table.columns[c]) else {
                    return nil
                }
                let flip = key == sort && !desc
                return "/runs"
                    + QueryString.encode(base + [("sort", key), ("desc", flip ? "1" : nil), ("per", perValue)])
            },
            cell: Self.runLink)
        func pageLink(_ n: Int, _ label: String) -> String {
            let q = base + [("sort", sort), ("desc", desc ? "1" : nil), ("per", perValue), ("page", String(n))]
            return "<a href=\"\(HTMLRenderer.escape("/runs" + QueryString.encode(q)))\">\(label)</a>"
        }
        var pager = "<p class=\"bar\">page \(page) of \(pages) (\(total) runs) "
        if page > 1 { pager += pageLink(page - 1, "&laquo; previous") }
        if page < pages { pager += pageLink(page + 1, "next &raquo;") }
        pager +=
            "<a href=\"\(HTMLRenderer.escape("/compare" + QueryString.encode(base)))\">compare these runs</a></p>\n"
        return Page(document: doc, links: links, controls: Self.filterForm(query) + pager)
    }

    /// The filter form of the runs table and a form to compare runs by name or id: GET forms, so
    /// what they ask lands in the URL.
    static func filterForm(_ query: QueryString) -> String {
        func field(_ name: String, _ placeholder: String, _ width: String = "") -> String {
            let value = HTMLRenderer.escape(query[name] ?? "")
            return
                "<input type=\"text\" name=\"\(name)\" value=\"\(value)\" placeholder=\"\(placeholder)\"\(width)>"
        }
        var hidden = ""
        for name in ["sort", "desc", "per"] {
            guard let v = query[name] else { continue }
            hidden += "<input type=\"hidden\" name=\"\(name)\" value=\"\(HTMLRenderer.escape(v))\">"
        }
        return """
            <form class="filter" method="get" action="/runs">\
            \(field("experiment", "experiment", " style=\"width:140px\"")) \
            \(field("state", "state", " style=\"width:90px\"")) \
            \(field("where", "where: train.lr < 0.003 and val/loss.min < 4.2")) \
            \(hidden)<button type="submit">filter</button></form>
            <form class="filter" method="get" action="/compare">\
            <input type="text" name="runs" placeholder="runs to compare: ids or names, comma-separated"> \
            <button type="submit">compare</button></form>

            """
    }

    // MARK: - Compare

    func comparePage(_ query: QueryString) throws -> Page {
        let group = query["group"].map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        let doc = try Reports.compare(
            reader,
            CompareQuery(
                selection: try Self.selection(query), groupBy: group,
                chartMetrics: [MetricKey.trainLoss, MetricKey.valLoss], logScale: query.flag("log")))
        return Page(document: doc, links: HTMLLinks(cell: Self.runLink))
    }

    // MARK: - One run

    func runPage(_ ref: String) throws -> Page {
        var doc = try Reports.run(reader, ref)
        let id = try reader.resolve(ref)
        let lines = Self.tail(of: TrackerDB.runLogPath(home: home, runId: id), lines: Self.logTailLines)
        doc.sections.append(
            .table(
                ReportTable(
                    title: "Log: the last \(Self.logTailLines) lines of logs/runs/\(id).log", columns: ["line"],
                    rows: lines.map { [.text($0)] })))
        return Page(document: doc, links: HTMLLinks(cell: Self.runLink))
    }

    /// The last `lines` lines of a file (read from its last 64 KiB); none when it cannot be read.
    static func tail(of path: String, lines: Int) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > 65_536 ? size - 65_536 : 0
        try? handle.seek(toOffset: start)
        let data = (try? handle.readToEnd()) ?? Data()
        var all = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if start > 0, !all.isEmpty { all.removeFirst() }  // a partial first line
        if all.last == "" { all.removeLast() }
        return all.suffix(lines).map(String.init)
    }
}
