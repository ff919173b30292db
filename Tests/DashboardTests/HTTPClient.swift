// A minimal HTTP/1.1 client over a blocking socket, for the tests: GET (or any method) with
// `Connection: close`, the status, headers and body (Content-Length or chunked), and a reader of
// a streaming response that returns once its text satisfies a condition. Blocking calls run on
// a Dispatch queue, never on a Swift concurrency thread the server also needs.
import Foundation
import Testing

@testable import Dashboard

#if canImport(Glibc)
    import Glibc
#endif

struct HTTPReply {
    var status: Int
    var headers: [String: String]
    var body: String
}

/// A dashboard server on a free loopback port, stopped by `stop()`.
struct TestServer {
    let port: Int
    let task: Task<Void, Error>

    static func start(home: String = Fixture.home, token: String? = nil) async throws -> TestServer {
        let server = try DashboardServer(
            .init(home: home, host: "127.0.0.1", port: 0, token: token, pollInterval: .milliseconds(100)))
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { continuation.yield($0) } }
        for await port in ports { return TestServer(port: port, task: task) }
        throw Fixture.Failed(description: "the server did not start")
    }

    func stop() { task.cancel() }

    func get(_ path: String, method: String = "GET", headers: [String: String] = [:]) async throws -> HTTPReply {
        try await HTTPClient.offThread {
            try HTTPClient.request(port: port, path: path, method: method, headers: headers)
        }
    }
}

enum HTTPClient {
    static func offThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            DispatchQueue.global().async { c.resume(with: Result { try body() }) }
        }
    }

    /// A reply's patience: generous, because the server shares the test process's two
    /// cooperative threads with every other suite, and on a loaded 2-core machine a page of a
    /// few runs can wait tens of seconds for a thread (the tests check content, not latency).
    static let replyTimeout = 60

    static func connect(port: Int, timeout: Int = replyTimeout) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Fixture.Failed(description: "socket() failed") }
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            close(fd)
            throw Fixture.Failed(description: "cannot connect to port \(port)")
        }
        return fd
    }

    static func send(_ fd: Int32, path: String, method: String, headers: [String: String]) {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (k, v) in headers { text += "\(k): \(v)\r\n" }
        text += "\r\n"
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
    }

    static func request(port: Int, path: String, method: String, headers: [String: String]) throws -> HTTPReply {
        let fd = try connect(port: port)
        defer { close(fd) }
        send(fd, path: path, method: method, headers: headers)
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var timedOut = false
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { timedOut = true }
            if n <= 0 { break }
            data += buffer[0..<n]
            if let reply = parse(data, complete: false) { return reply }
        }
        guard let reply = parse(data, complete: true) else {
            let why =
                timedOut
                ? "none within \(replyTimeout) s" : "the server closed the connection after \(data.count) bytes"
            throw Fixture.Failed(description: "no complete HTTP response for \(path): \(why)")
        }
        return reply
    }

    /// The response once `data` holds all of it (`complete`: the connection closed).
    static func parse(_ data: [UInt8], complete: Bool) -> HTTPReply? {
        let text = String(decoding: data, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        let headerBytes = text[..<end.upperBound].utf8.count
        let rest = Array(data[headerBytes...])
        if let length = headers["content-length"].flatMap(Int.init) {
            guard rest.count >= length else { return nil }
            return HTTPReply(status: status, headers: headers, body: String(decoding: rest[0..<length], as: UTF8.self))
        }
        if headers["transfer-encoding"] == "chunked" {
            guard let body = dechunk(rest) else { return nil }
            return HTTPReply(status: status, headers: headers, body: body)
        }
        return complete ? HTTPReply(status: status, headers: headers, body: String(decoding: rest, as: UTF8.self)) : nil
    }

    /// A chunked body, or nil until its last chunk arrived.
    static func dechunk(_ bytes: [UInt8]) -> String? {
        var out = [UInt8]()
        var i = 0
        while true {
            guard let lineEnd = (i..<max(i, bytes.count - 1)).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }),
                let size = Int(String(decoding: bytes[i..<lineEnd], as: UTF8.self), radix: 16)
            else { return nil }
            if size == 0 { return String(decoding: out, as: UTF8.self) }
            let start = lineEnd + 2
            guard start + size + 2 <= bytes.count else { return nil }
            out += bytes[start..<start + size]
            i = start + size + 2
        }
    }

    /// Reads a streaming response until its text satisfies `done` or `seconds` pass; the text read.
    static func stream(
        port: Int, path: String, seconds: Int, opened: @Sendable () throws -> Void, until done: (String) -> Bool
    ) throws -> String {
        let fd = try connect(port: port, timeout: 1)
        defer { close(fd) }
        send(fd, path: path, method: "GET", headers: [:])
        var text = ""
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = Date().addingTimeInterval(Double(seconds))
        var started = false
        while Date() < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { break }
            if n > 0 { text += String(decoding: buffer[0..<n], as: UTF8.self) }
            if !started && text.contains("tracker live feed") {
                started = true
                try opened()
            }
            if done(text) { break }
        }
        return text
    }
}
