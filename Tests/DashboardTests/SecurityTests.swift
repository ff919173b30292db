// Safe by default: every string from the store is escaped (a run named and tagged with HTML,
// a log line with a script), a token is required off loopback and checked on every request
// (header, query parameter, the cookie a good query parameter sets), and query strings of any
// shape get a page or a clear 400, never a trap.
import Basics
import Foundation
import TestSupport
import Testing

@testable import Dashboard

@Suite(.serialized) struct SecurityTests {
    @Test func everyStringFromTheStoreIsEscaped() async throws {
        let server = try await TestServer.start()
        defer { server.stop() }
        let escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        for path in ["/", "/runs", "/runs?sort=tag.note", "/compare", "/runs/\(Fixture.shared.trainedId)"] {
            let page = try await server.get(path)
            #expect(page.status == 200, "\(path): \(page.body.prefix(200))")
            #expect(!page.body.contains("<script>alert"), "\(path) holds the raw script")
            if path != "/" { #expect(page.body.contains(escaped), "\(path) does not show the escaped name") }
        }
        // The filter form echoes the query escaped, and the run page of the imported run too.
        let echoed = try await server.get(
            "/runs?where="
                + QueryString.escape("run.name = '\(Fixture.hostile.replacingOccurrences(of: "'", with: "\\'"))'"))
        #expect(echoed.status == 200 && !echoed.body.contains("<script>alert"))
        #expect(echoed.body.contains("page 1 of 1 (1 runs)"))
        let run = try await server.get("/runs/" + QueryString.escape(Fixture.hostile))
        #expect(run.status == 200 && !run.body.contains("<script>alert") && run.body.contains(escaped))
        let headers = try await server.get("/runs")
        #expect(headers.headers["content-security-policy"]?.contains("script-src 'self'") == true)
        #expect(headers.headers["x-content-type-options"] == "nosniff")
    }

    @Test func aTokenIsRequiredOffLoopbackAndCheckedOnEveryRequest() async throws {
        #expect(throws: DashboardServerError.self) {
            try DashboardServer(.init(home: Fixture.home, host: "0.0.0.0", port: 0))
        }
        let error = try #require(throws: DashboardServerError.self) {
            try DashboardServer(.init(home: Fixture.home, host: "0.0.0.0", port: 0, token: ""))
        }
        #expect(error.description.contains("--token"))
        let server = try await TestServer.start(token: "s3cret+/=")
        defer { server.stop() }
        for path in ["/", "/runs", "/compare", "/events", "/dashboard.js", "/runs/1?format=json"] {
            let refused = try await server.get(path)
            #expect(refused.status == 401 && refused.body.contains("?token="), "\(path) answered without the token")
            #expect(try await server.get(path, headers: ["Authorization": "Bearer s3cret"]).status == 401)
            #expect(try await server.get(path, headers: ["Authorization": "Bearer s3cret+/=x"]).status == 401)
        }
        #expect(try await server.get("/runs", headers: ["Authorization": "Bearer s3cret+/="]).status == 200)
        #expect(try await server.get("/runs", headers: ["Authorization": "bearer s3cret+/="]).status == 200)
        let viaQuery = try await server.get("/runs?token=" + QueryString.escape("s3cret+/="))
        #expect(viaQuery.status == 200)
        let cookie = try #require(viaQuery.headers["set-cookie"])
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
        let pair = String(cookie.split(separator: ";")[0])
        #expect(try await server.get("/compare", headers: ["Cookie": pair]).status == 200)
        #expect(try await server.get("/compare", headers: ["Cookie": "tracker_token=wrong"]).status == 401)
        #expect(try await server.get("/runs?token=s3cret").status == 401)
    }

    @Test func tokenComparisonLooksAtEveryByte() {
        #expect(Token.equal("abc", "abc"))
        #expect(!Token.equal("abc", "abd") && !Token.equal("abc", "ab") && !Token.equal("", "a"))
        #expect(!Token.equal("abc", "abc\u{0}"))
    }

    @Test func badQueriesAreClear400s() async throws {
        let server = try await TestServer.start()
        defer { server.stop() }
        let cases: [(String, String)] = [
            ("/runs?where=" + QueryString.escape("train.lr <"), "--where"),
            ("/runs?where=" + QueryString.escape("(((((((((((((((((((((((((((((((((((a=1"), "nested"),
            ("/runs?sort=nonsense", "--sort"),
            ("/runs?page=999999", "past the last page"),
            ("/runs?page=99999999999999999999999", "page must be a whole number"),
            ("/runs?page=-1", "page must be"), ("/runs?page=abc", "page must be"), ("/runs?per=0", "per must be"),
            ("/runs?format=xml", "format must be"), ("/runs?where=%zz", "'%'"), ("/runs?where=%ff%fe", "UTF-8"),
            ("/compare?where=" + QueryString.escape("val/loss = 'x'"), "compares with numbers"),
            ("/runs?state=bogus", "state must be one of"), ("/compare?group=nope", "--group-by: 'nope'"),
        ]
        for (path, message) in cases {
            let reply = try await server.get(path)
            #expect(reply.status == 400, "\(path) -> \(reply.status)")
            #expect(reply.body.contains(message), "\(path): \(reply.body)")
            #expect(!reply.body.contains("\n\n") && reply.body.count < 1000)
        }
        #expect(try await server.get("/runs?experiment=nope").status == 404)
        #expect(try await server.get("/compare?runs=nope").status == 404)
        let long = try await server.get("/runs?where=" + String(repeating: "a", count: 20_000))
        #expect(long.status == 400 || long.status == 431)
    }

    /// Random query strings from pieces of real ones, straight into the views: always a page, a
    /// 400 or a 404, with a one-line message.
    @Test func fuzzedQueryStringsNeverTrap() throws {
        let dashboard = try Dashboard(home: Fixture.home)
        let pieces = [
            "where=", "sort=", "desc=1", "page=", "per=", "format=", "experiment=", "state=", "runs=", "group=",
            "train.lr", "%3C", "%3E", "%20", "+", "%", "%2", "%zz", "%C3%A9", "%FF", "&", "=", "'", "\"", "(", ")",
            "and", "or", "not", "~", "<", ">=", "!=", "0", "1", "-1", "99999999999999999999", "1e308", "nan", "`",
            "val/loss.min", "tag.note", "run.name", "csv", "json", "html", "tiny-lr", "running", ",", ";", "\\",
        ]
        let paths = ["/", "/runs", "/compare", "/runs/1", "/runs/x", "/runs/%2e%2e"]
        var random = TestRandom(seed: 14)
        for _ in 0..<1500 {
            var query = ""
            for _ in 0..<random.int(0..<10) { query += pieces[random.int(0..<pieces.count)] }
            let path = paths[random.int(0..<paths.count)]
            let reply = dashboard.respond(path: path, query: query)
            #expect([200, 400, 404].contains(reply.status), "\(path)?\(query) -> \(reply.status): \(reply.body)")
            if reply.status != 200 { #expect(reply.body.split(separator: "\n").count <= 3, "\(path)?\(query)") }
        }
    }

    @Test func queryStringsDecodeAsFormsDo() throws {
        let q = try QueryString("where=train.lr+%3C+0.003&sort=val%2Floss.min&desc=1&a&where2=%C3%A9")
        #expect(q["where"] == "train.lr < 0.003" && q["sort"] == "val/loss.min" && q.flag("desc"))
        #expect(q["a"] == nil && q["where2"] == "é")
        #expect(throws: DashboardError.self) { try QueryString("where=%") }
        #expect(throws: DashboardError.self) { try QueryString("where=%C3") }
        for s in ["a b&c=d", "é/€?x=1'\"<>", ""] {
            #expect(try QueryString.decode(Substring(QueryString.escape(s))) == s)
        }
    }
}
