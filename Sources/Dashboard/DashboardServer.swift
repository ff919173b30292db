// `tracker serve`: the dashboard over HTTP (Hummingbird). GET and HEAD only: no endpoint changes
// anything. Binds 127.0.0.1 unless told otherwise; on any other interface a token is required,
// and checked on every request (an `Authorization: Bearer` header, a `?token=` parameter, or the
// cookie the first good `?token=` sets), compared in constant time.
import Basics
import Foundation
import Hummingbird

public struct DashboardServer: Sendable {
    public struct Options: Sendable {
        public var home: String
        public var host: String
        /// 0 picks a free port (tests); the port bound is passed to `onStarted`.
        public var port: Int
        public var token: String?
        /// How often live streams look for new metrics and queue changes.
        public var pollInterval: Duration

        public init(
            home: String, host: String = "127.0.0.1", port: Int = 8787, token: String? = nil,
            pollInterval: Duration = .milliseconds(250)
        ) {
            self.home = home
            self.host = host
            self.port = port
            self.token = token
            self.pollInterval = pollInterval
        }
    }

    public let options: Options
    let dashboard: Dashboard

    /// Checks the options and opens the workspace; throws a clear error for a missing workspace
    /// or a non-loopback host without a token.
    public init(_ options: Options) throws {
        if !Self.isLoopback(options.host) && (options.token ?? "").isEmpty {
            throw DashboardServerError.tokenRequired(host: options.host)
        }
        self.options = options
        self.dashboard = try Dashboard(home: options.home)
    }

    /// 127.0.0.0/8, ::1 and localhost.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    /// Serves until the task is cancelled; `onStarted` gets the port bound.
    public func run(onStarted: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var app = Application(
            responder: Responder(server: self),
            configuration: ApplicationConfiguration(
                address: .hostname(options.host, port: options.port), serverName: "tracker"),
            onServerRunning: { channel in onStarted(channel.localAddress?.port ?? 0) })
        // The server's own log lines (started, cancelled connections) would only repeat what
        // `onStarted` says or report the normal way it stops; failures still throw.
        app.logger.logLevel = .critical
        try await app.run()
    }

    struct Responder: HTTPResponder {
        typealias Context = BasicRequestContext
        let server: DashboardServer

        func respond(to request: Request, context: Context) async throws -> Response {
            guard request.method == .get || request.method == .head else {
                return Self.text(405, "the dashboard is read-only: use GET")
            }
            let path = request.uri.path
            let query = request.uri.query
            var setCookie = false
            if let token = server.options.token, !token.isEmpty {
                switch Token.check(token, request) {
                case .refused: return Self.text(401, DashboardError.unauthorized.description)
                case .fromQuery: setCookie = true
                case .accepted: break
                }
            }
            var response: Response
            switch path {
            case "/dashboard.js":
                response = Self.reply(200, "text/javascript; charset=utf-8", LiveScript.source)
            case "/events":
                response = LiveFeed(reader: server.dashboard.reader, interval: server.options.pollInterval).response(
                    query: query)
            default:
                let reply = server.dashboard.respond(path: path, query: query)
                response = Self.reply(reply.status, reply.contentType, reply.body)
            }
            if setCookie, let token = server.options.token {
                response.headers[.setCookie] =
                    "\(Token.cookie)=\(QueryString.escape(token)); Path=/; HttpOnly; SameSite=Strict"
            }
            return response
        }

        static func text(_ status: Int, _ message: String) -> Response {
            reply(status, "text/plain; charset=utf-8", message + "\n")
        }

        static func reply(_ status: Int, _ contentType: String, _ body: String) -> Response {
            var headers = HTTPFields()
            headers[.contentType] = contentType
            headers[.contentSecurityPolicy] = Self.policy
            headers[.xContentTypeOptions] = "nosniff"
            headers[.cacheControl] = "no-store"
            if contentType.hasPrefix("text/csv") || contentType.hasPrefix("application/json") {
                headers[.contentDisposition] = "inline"
            }
            return Response(
                status: HTTPResponse.Status(code: status), headers: headers,
                body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }

        /// Pages load nothing from elsewhere: their own script, inline styles and SVG.
        static let policy =
            "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    }
}

/// The token check: constant time in the token's content.
enum Token {
    static let cookie = "tracker_token"

    enum Outcome { case accepted, fromQuery, refused }

    static func check(_ token: String, _ request: Request) -> Outcome {
        // The scheme's name is case-insensitive (RFC 7235): "bearer" too.
        if let auth = request.headers[.authorization], auth.lowercased().hasPrefix("bearer "),
            equal(String(auth.dropFirst("Bearer ".count)), token)
        {
            return .accepted
        }
        if let cookie = request.cookies[cookie]?.value,
            let value = try? QueryString.decode(Substring(cookie)), equal(value, token)
        {
            return .accepted
        }
        if let query = try? QueryString(request.uri.query), let given = query["token"], equal(given, token) {
            return .fromQuery
        }
        return .refused
    }

    /// Compares every byte of the longer string whatever the first difference.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return diff == 0
    }
}

public enum DashboardServerError: Error, CustomStringConvertible {
    case tokenRequired(host: String)

    public var description: String {
        switch self {
        case .tokenRequired(let host):
            return
                "--host \(host) makes the dashboard reachable from other machines: give --token SECRET too (every request must carry it)"
        }
    }
}
