// The dashboard's views over a workspace's store, independent of the HTTP server: a request's
// path and query string in, a status, content type and body out. Every view is a Report
// document (so the page, its CSV and its JSON hold the same facts) drawn by Report's HTML
// renderer, with links added: sortable headers, run names to run pages, counts to filtered tables.
//
//   /                 experiments with their runs counted by state, and the queue
//   /runs             the runs table: ?experiment= &state= &where= &sort= &desc=1 &page= &per=
//   /runs/RUN         one run: resolved config, provenance, checkpoints, state history, log tail
//   /compare          ?runs=a,b or the runs table's filters, &group=key,key: curves and tables
//   any view          &format=csv or &format=json downloads what the page shows
import Basics
import Foundation
import Report
import Store

public struct Dashboard: Sendable {
    public let home: String
    let reader: RunReader

    /// Opens the workspace's store read-only; fails with the Store's clear error when there is none.
    public init(home: String) throws {
        self.home = home
        self.reader = RunReader(db: try TrackerDB(home: home, access: .readOnly))
    }

    /// A response before HTTP: the server adds the headers.
    public struct Reply: Sendable {
        public var status: Int
        public var contentType: String
        public var body: String
    }

    /// The view at `path` for the (still encoded) query string; errors become a page with their status.
    public func respond(path: String, query raw: String?) -> Reply {
        do {
            let query = try QueryString(raw)
            let format = try Self.format(query)
            let view = try View(path: path)
            let page = try self.page(view, query)
            switch format {
            case .html:
                return Reply(status: 200, contentType: "text/html; charset=utf-8", body: html(page, view, query))
            case .csv:
                return Reply(status: 200, contentType: "text/csv; charset=utf-8", body: page.document.render(.csv))
            default:
                return Reply(
                    status: 200, contentType: "application/json; charset=utf-8", body: page.document.render(.json))
            }
        } catch {
            let e = DashboardError.from(error)
            return Reply(status: e.status, contentType: "text/plain; charset=utf-8", body: e.description + "\n")
        }
    }

    static func format(_ query: QueryString) throws -> ReportFormat {
        switch query["format"] ?? "html" {
        case "html": return .html
        case "csv": return .csv
        case "json": return .json
        case let other: throw DashboardError.badRequest("format must be html, csv or json, not '\(other.prefix(40))'")
        }
    }

    /// The four views, read from the request path.
    enum View: Equatable {
        case experiments, runs, compare
        case run(String)

        init(path: String) throws {
            let parts = path.split(separator: "/", omittingEmptySubsequences: true)
            switch parts.count {
            case 0: self = .experiments
            case 1 where parts[0] == "runs": self = .runs
            case 1 where parts[0] == "compare": self = .compare
            case 2 where parts[0] == "runs":
                let ref = try QueryString.decode(parts[1])
                self = .run(ref)
            default:
                throw DashboardError.notFound(
                    "no page at \(path.prefix(200)); the views are /, /runs, /runs/RUN and /compare")
            }
        }
    }

    /// A view's document, the links its tables carry and the controls above it (trusted HTML).
    struct Page {
        var document: ReportDocument
        var links: HTMLLinks = .none
        var controls: String = ""
        var extra: String = ""
    }

    func page(_ view: View, _ query: QueryString) throws -> Page {
        switch view {
        case .experiments: return try experimentsPage()
        case .runs: return try runsPage(query)
        case .compare: return try comparePage(query)
        case .run(let ref): return try runPage(ref)
        }
    }

    /// The page around a view: the navigation, the view's own controls, downloads, and the live script.
    func html(_ page: Page, _ view: View, _ query: QueryString) -> String {
        let nav = """
            <nav class="top"><a href="/">Experiments</a><a href="/runs">Runs</a><a href="/compare">Compare</a>\
            <span class="live" id="live">live: connecting</span></nav>

            """
        var values = query.values
        values["format"] = "csv"
        let csv = QueryString.encode(values.keys.sorted().map { ($0, values[$0]) })
        values["format"] = "json"
        let json = QueryString.encode(values.keys.sorted().map { ($0, values[$0]) })
        let path = view.path
        let downloads = """
            <p class="bar">Download: <a href="\(HTMLRenderer.escape(path + csv))">CSV</a>\
            <a href="\(HTMLRenderer.escape(path + json))">JSON</a></p>

            """
        let body = HTMLRenderer.body(page.document, links: page.links, afterTitle: page.controls + downloads)
        return HTMLRenderer.page(
            title: page.document.title, header: nav, body: body + page.extra,
            footer: "tracker serve: read-only, updates live while runs train.", scriptURL: "/dashboard.js")
    }
}

extension Dashboard.View {
    var path: String {
        switch self {
        case .experiments: return "/"
        case .runs: return "/runs"
        case .compare: return "/compare"
        case .run(let ref): return "/runs/" + QueryString.escape(ref)
        }
    }
}
