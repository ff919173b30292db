// The dashboard's views over HTTP, against a real server on loopback over real runs: the
// experiments page (counts by state, the queue), the runs table (sorting, --where filters,
// pages), the compare view, a run's page, and every view's CSV and JSON.
import Basics
import Foundation
import Store
import Testing

@testable import Dashboard

@Suite(.serialized) struct ViewTests {
    @Test func experimentsPageCountsRunsByStateAndShowsTheQueue() async throws {
        let server = try await TestServer.start()
        defer { server.stop() }
        let page = try await server.get("/")
        #expect(page.status == 200 && page.headers["content-type"]?.hasPrefix("text/html") == true)
        #expect(page.body.contains("tiny-lr") && page.body.contains("tiny-lr-more"))
        #expect(page.body.contains("<a href=\"/runs?experiment=tiny-lr&amp;state=succeeded\">4</a>"))
        #expect(page.body.contains("<script src=\"/dashboard.js\">"))
        let json = try await server.get("/?format=json")
        let doc = try ConfigValue(json: json.body)
        guard case .array(let sections)? = doc.value(at: "sections"), sections.count == 2,
            case .array(let rows)? = sections[0].value(at: "rows"),
            case .array(let queue)? = sections[1].value(at: "rows")
        else {
            Issue.record("unexpected JSON: \(json.body.prefix(300))")
            return
        }
        let tiny = try #require(rows.first { $0.value(at: "experiment") == .string("tiny-lr") })
        #expect(tiny.value(at: "succeeded") == .int(4) && tiny.value(at: "total") == .int(4))
        let more = try #require(rows.first { $0.value(at: "experiment") == .string("tiny-lr-more") })
        #expect(more.value(at: "running") == .int(1) && more.value(at: "queued") == .int(1))
        #expect(queue.map { $0.value(at: "state") } == [.string("running"), .string("queued")])
        let csv = try await server.get("/?format=csv")
        #expect(csv.status == 200 && csv.body.contains("tiny-lr,0,0,4,"))
    }

    @Test func runsTableSortsFiltersAndPaginates() async throws {
        let server = try await TestServer.start()
        defer { server.stop() }
        let all = try await server.get("/runs")
        #expect(all.status == 200 && all.body.contains("page 1 of 1 (7 runs)"))
        // The headers sort; the parameters that differ are columns.
        #expect(all.body.contains("<a href=\"/runs?sort=train.lr\">train.lr</a>"))
        #expect(all.body.contains("<a href=\"/runs?sort=val%2Floss.min\">best val/loss</a>"))
        func names(_ query: String) async throws -> [String] {
            let reply = try await server.get("/runs?format=json&" + query)
            #expect(reply.status == 200, "\(query): \(reply.body)")
            let doc = try ConfigValue(json: reply.body)
            guard case .array(let rows)? = doc.value(at: "sections")?.arrayItems?.first?.value(at: "rows") else {
                return []
            }
            return rows.compactMap { if case .string(let s)? = $0.value(at: "run") { s } else { nil } }
        }
        let experimentLR = "experiment=tiny-lr&where=" + QueryString.escape("train.lr > 0.002")
        #expect(try await names(experimentLR).count == 2)
        let byLR = try await names("experiment=tiny-lr&sort=train.lr&desc=1")
        let lrs = try await server.get("/runs?format=csv&experiment=tiny-lr&sort=train.lr&desc=1")
        #expect(byLR.count == 4 && lrs.body.split(separator: "\n").count == 5)
        // Pages split the runs (names repeat across experiments; ids do not).
        var ids: [Int] = []
        for page in 1...3 {
            let reply = try await server.get("/runs?format=csv&per=3&page=\(page)")
            let rows = reply.body.split(separator: "\n").dropFirst()
            #expect(rows.count == (page < 3 ? 3 : 1), "page \(page): \(reply.body)")
            ids += rows.compactMap { row in
                row.split(separator: ",", omittingEmptySubsequences: false).dropFirst(2).first.flatMap { Int($0) }
            }
        }
        #expect(ids.sorted() == Array(1...7))
        let page2 = try await server.get("/runs?per=3&page=2")
        #expect(page2.body.contains("page 2 of 3 (7 runs)") && page2.body.contains("&laquo; previous"))
        #expect(page2.body.contains("next &raquo;"))
    }

    @Test func runPageShowsConfigProvenanceCheckpointsStateAndLog() async throws {
        let server = try await TestServer.start()
        defer { server.stop() }
        let id = Fixture.shared.trainedId
        let page = try await server.get("/runs/\(id)")
        #expect(page.status == 200)
        for part in [
            "Config", "train.lr", "Lineage", "Checkpoints and artifacts", "checkpoint", "State history",
            "succeeded", "attempts", "Log: the last", "== attempt 1 on worker test:1",
        ] {
            #expect(page.body.contains(part), "run page lacks \(part)")
        }
        #expect(page.body.contains("<polyline"))  // its loss curve
        let json = try await server.get("/runs/\(id)?format=json")
        #expect(json.status == 200 && json.body.contains("\"State history\""))
        let missing = try await server.get("/runs/999999")
        #expect(missing.status == 404 && missing.body.contains("999999"))
    }

    @Test func compareViewOverlaysCurvesWithTheParameterDiff() async throws {
        let server = try await TestServer.start()
        defer { server.stop() }
        let page = try await server.get("/compare?experiment=tiny-lr")
        #expect(page.status == 200)
        #expect(page.body.contains("train.lr") && page.body.contains("<polyline"))
        let csv = try await server.get("/compare?experiment=tiny-lr&format=csv")
        #expect(csv.status == 200 && csv.body.contains("train.lr"))
    }

    @Test func unknownPathsAndMethodsAreRefused() async throws {
        let server = try await TestServer.start()
        defer { server.stop() }
        #expect(try await server.get("/nope").status == 404)
        #expect(try await server.get("/runs/1/2/3").status == 404)
        #expect(try await server.get("/runs", method: "POST").status == 405)
        #expect(try await server.get("/runs", method: "DELETE").status == 405)
        let js = try await server.get("/dashboard.js")
        #expect(js.status == 200 && js.body.contains("EventSource"))
    }
}

extension ConfigValue {
    var arrayItems: [ConfigValue]? { if case .array(let a) = self { a } else { nil } }
}
