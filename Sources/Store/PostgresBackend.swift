// The PostgreSQL backend over postgres-nio: a synchronous facade over its client. The store's
// callers are synchronous (workers, the CLI, MetricWriter's thread), so each call sends its
// request to a connection whose I/O runs on this backend's own event-loop thread and waits for
// the answer there; it never runs on a cooperative pool's thread. A few connections are kept
// open and handed out one per transaction. Statements whose answer nothing needs (BEGIN, a
// metric batch's write) are sent without waiting: the connection runs them in order, and the
// next statement waited for (at the latest COMMIT) first checks them, so a transaction costs
// the calling thread one wake-up per answer it reads rather than one per statement.
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

public final class PostgresBackend: SQLBackend, @unchecked Sendable {
    public var dialect: SQLDialect { .postgres }
    public let location: String
    private let configuration: PostgresConnection.Configuration
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private let logger: Logger = {
        var l = Logger(label: "tracker.store.postgres")
        l.logLevel = .critical
        return l
    }()
    private let maxConnections: Int
    // Guarded by `cond`.
    private let cond = NSCondition()
    private var idle: [PostgresConnection] = []
    private var opened = 0
    private var nextId = 0

    /// Connects once (so a wrong address or password fails here, with a clear message).
    public init(url: PostgresURL, password: String?, maxConnections: Int = 4) throws {
        location = url.redacted
        self.maxConnections = max(1, maxConnections)
        var c: PostgresConnection.Configuration
        if let socket = url.socketPath {
            c = .init(unixSocketPath: socket, username: url.user, password: password, database: url.database)
        } else {
            c = .init(
                host: url.host, port: url.port, username: url.user, password: password, database: url.database,
                tls: .disable)
        }
        c.options.connectTimeout = .seconds(10)
        if let schema = url.schema { c.options.additionalStartupParameters = [("options", "-c search_path=\(schema)")] }
        configuration = c
        let first = try connect()
        cond.lock()
        idle.append(first)
        opened = 1
        cond.unlock()
    }

    deinit {
        for c in idle { try? c.close().wait() }
        try? group.syncShutdownGracefully()
    }

    private func connect() throws -> PostgresConnection {
        cond.lock()
        nextId += 1
        let id = nextId
        cond.unlock()
        do {
            return try PostgresConnection.connect(
                on: group.next(), configuration: configuration, id: id, logger: logger
            ).wait()
        } catch {
            throw StoreError.cannotOpen(path: location, reason: Self.describe(error))
        }
    }

    /// An idle connection, a new one while fewer than `maxConnections` are open, else the next one freed.
    private func checkout() throws -> PostgresConnection {
        cond.lock()
        while true {
            while let c = idle.popLast() {
                if !c.isClosed {
                    cond.unlock()
                    return c
                }
                opened -= 1
            }
            if opened < maxConnections {
                opened += 1
                cond.unlock()
                do {
                    return try connect()
                } catch {
                    cond.lock()
                    opened -= 1
                    cond.signal()
                    cond.unlock()
                    throw error
                }
            }
            cond.wait()
        }
    }

    private func checkin(_ c: PostgresConnection) {
        cond.lock()
        if c.isClosed { opened -= 1 } else { idle.append(c) }
        cond.signal()
        cond.unlock()
    }

    public func transaction<T>(_ kind: TransactionKind, _ body: (any StoreConnection) throws -> T) throws -> T {
        let c = try checkout()
        defer { checkin(c) }
        let conn = PostgresStoreConnection(connection: c, logger: logger)
        conn.send(kind == .read ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN")
        do {
            let result = try body(conn)
            try conn.command("COMMIT")
            return result
        } catch {
            _ = try? conn.command("ROLLBACK")
            throw error
        }
    }

    /// PSQLError hides the server's message from its description; this is the one line to show.
    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] {
                let code = e.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return message + code
            }
            return "\(e.code)" + (e.underlying.map { ": \($0)" } ?? "")
        }
        return "\(error)"
    }

    /// The server's SQLSTATE of `error`, when it came from the server.
    static func sqlState(_ error: any Error) -> String? { (error as? PSQLError)?.serverInfo?[.sqlState] }
}

/// One postgres-nio connection inside a transaction.
struct PostgresStoreConnection: StoreConnection {
    let connection: PostgresConnection
    let logger: Logger
    /// Statements sent and not yet checked, oldest first (used by the transaction's thread only).
    private let sent = Sent()
    var dialect: SQLDialect { .postgres }

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    private final class Sent {
        var answers: [EventLoopFuture<PostgresQueryResult>] = []
    }

    func execute(_ sql: String, _ arguments: [SQLValue]) throws -> Int {
        try run(sql, arguments).metadata.rows ?? 0
    }

    func rows(_ sql: String, _ arguments: [SQLValue]) throws -> [SQLRow] {
        let result = try run(sql, arguments)
        guard let first = result.rows.first else { return [] }
        let columns = first.map(\.columnName)
        return try result.rows.map { row in
            SQLRow(columns: columns, values: try row.map(Self.value))
        }
    }

    func executeScript(_ sql: String) throws {
        for statement in sqlStatements(sql) { _ = try run(statement, []) }
    }

    /// A statement without arguments or rows (BEGIN, COMMIT).
    func command(_ sql: String) throws { _ = try run(sql, []) }

    /// Runs a query built with postgres-nio's own binds (array columns, the metric fast path).
    func query(_ query: PostgresQuery) throws -> PostgresQueryResult {
        let answer = connection.query(query, logger: logger)
        do {
            try checkSent()
            return try answer.wait()
        } catch let e as StoreError {
            _ = try? answer.wait()
            throw e
        } catch {
            throw StoreError.sqlite(PostgresBackend.describe(error))
        }
    }

    /// Sends `query` without waiting for its answer; the next statement waited for checks it
    /// first, so its error (which also aborts the transaction) is the one reported.
    func send(_ query: PostgresQuery) {
        sent.answers.append(connection.query(query, logger: logger))
    }

    /// Sends a statement without arguments without waiting for its answer (see above).
    func send(_ sql: String) { send(PostgresQuery(unsafeSQL: sql)) }

    /// Waits for the statements sent so far; throws the first one's error, after all have answered.
    private func checkSent() throws {
        let answers = sent.answers
        sent.answers = []
        var first: (any Error)?
        for a in answers {
            do { _ = try a.wait() } catch { first = first ?? error }
        }
        if let first { throw StoreError.sqlite(PostgresBackend.describe(first)) }
    }

    private func run(_ sql: String, _ arguments: [SQLValue]) throws -> PostgresQueryResult {
        var binds = PostgresBindings(capacity: arguments.count)
        for a in arguments {
            switch a {
            case .null: binds.appendNull()
            case .integer(let i): binds.append(i)
            case .real(let d): binds.append(d)
            case .text(let s): binds.append(s)
            case .blob(let b): binds.append(ByteBuffer(bytes: b))
            }
        }
        return try query(PostgresQuery(unsafeSQL: postgresPlaceholders(sql), binds: binds))
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int8: return .integer(try cell.decode(Int64.self))
        case .int4: return .integer(Int64(try cell.decode(Int32.self)))
        case .int2: return .integer(Int64(try cell.decode(Int16.self)))
        case .float8, .float4: return .real(try cell.decode(Double.self))
        case .bool: return .integer(try cell.decode(Bool.self) ? 1 : 0)
        case .bytea: return .blob(Array((try cell.decode(ByteBuffer.self)).readableBytesView))
        case .numeric: return .real(Double(try cell.decode(String.self)) ?? .nan)
        default: return .text(try cell.decode(String.self))
        }
    }
}

/// `postgres://user[:password]@host[:port]/database[?host=/socket/dir][&schema=NAME]`.
public struct PostgresURL: Sendable, Equatable {
    public var user: String
    /// The password written in the URL, if any (used only when the user typed it on the command line).
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    /// The folder of the server's Unix socket (`?host=/dir`), instead of TCP.
    public var socketDir: String?
    /// The schema holding the store's tables (`?schema=NAME`; default: the server's search_path).
    public var schema: String?

    public var socketPath: String? { socketDir.map { "\($0)/.s.PGSQL.\(port)" } }

    /// The URL without its password: what messages, logs and job scripts may show.
    public var redacted: String {
        var s = "postgres://\(user)@\(host):\(port)/\(database)"
        let query = [socketDir.map { "host=\($0)" }, schema.map { "schema=\($0)" }].compactMap { $0 }
        if !query.isEmpty { s += "?" + query.joined(separator: "&") }
        return s
    }

    /// True when `text` names a PostgreSQL store rather than a folder.
    public static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    public init(_ text: String) throws {
        func bad(_ why: String) -> StoreError {
            .badStoreURL(url: Self.stripPassword(text), reason: why)
        }
        guard Self.isPostgres(text), let c = URLComponents(string: text) else {
            throw bad("expected postgres://USER@HOST:PORT/DATABASE")
        }
        guard let user = c.user, !user.isEmpty else { throw bad("it names no user (postgres://USER@HOST/DATABASE)") }
        let db = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        guard !db.isEmpty, !db.contains("/") else { throw bad("it names no database (postgres://USER@HOST/DATABASE)") }
        self.user = user.removingPercentEncoding ?? user
        password = c.password.map { $0.removingPercentEncoding ?? $0 }
        host = c.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        port = c.port ?? 5432
        database = db
        socketDir = c.queryItems?.first { $0.name == "host" }?.value
        schema = c.queryItems?.first { $0.name == "schema" }?.value
        if let schema, schema.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) == nil {
            throw bad("schema must be a lower-case name (letters, digits, _)")
        }
        if let item = c.queryItems?.first(where: { $0.name != "host" && $0.name != "schema" }) {
            throw bad("unknown parameter \(item.name) (only ?host=/socket/dir and ?schema=NAME are understood)")
        }
    }

    /// `text` with any password replaced by `***`, for error messages.
    static func stripPassword(_ text: String) -> String {
        guard var c = URLComponents(string: text) else { return "(the URL given, not shown: it may hold a password)" }
        guard c.password != nil else { return text }
        c.password = "***"
        return c.string ?? "(the URL given, not shown: it may hold a password)"
    }
}
