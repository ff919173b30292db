// /events: a server-sent event stream (text/event-stream) that polls the store and sends what
// changed since the stream opened: `queue` (run counts by state and the queue) when they change,
// and `metric` (one series' new points: [step, value, unix time logged]) for running runs and the
// runs named by ?runs=ID,ID. Pages re-draw their view when an event arrives (dashboard.js).
import Basics
import Foundation
import Hummingbird
import Store

struct LiveFeed: Sendable {
    let reader: RunReader
    let interval: Duration
    /// The most points one series sends in one event (the newest).
    static let maxPointsPerEvent = 500
    /// A comment line keeps idle connections open through proxies and finds closed ones.
    static let keepAlive: Duration = .seconds(15)

    func response(query: String?) -> Response {
        let watched = ((try? QueryString(query))?["runs"] ?? "").split(separator: ",").compactMap {
            Int64($0.trimmingCharacters(in: .whitespaces))
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream; charset=utf-8"
        headers[.cacheControl] = "no-store"
        let feed = self
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                var state = State(watched: Set(watched))
                // Series as they are now are the baseline: only what is logged from here on is sent.
                state.steps = (try? feed.reader.lastSteps(runIds: feed.runIds(state))) ?? [:]
                state.queue = (try? feed.queueJSON()) ?? ""
                try await writer.write(ByteBuffer(string: "retry: 2000\n: tracker live feed\n\n"))
                var quiet: Duration = .zero
                while !Task.isCancelled {
                    let events = feed.poll(&state)
                    if !events.isEmpty || quiet >= Self.keepAlive {
                        try await writer.write(ByteBuffer(string: events.isEmpty ? ": keep-alive\n\n" : events))
                        quiet = .zero
                    }
                    try await Task.sleep(for: feed.interval)
                    quiet += feed.interval
                }
                try await writer.finish(nil)
            })
    }

    struct State {
        var watched: Set<Int64>
        var steps: [Int64: [String: Int64]] = [:]
        var queue = ""
    }

    func runIds(_ state: State) throws -> [Int64] {
        Array(Set(try reader.runIds(state: RunState.running.rawValue)).union(state.watched)).sorted()
    }

    /// The events since the last poll, as stream text (empty when nothing changed).
    func poll(_ state: inout State) -> String {
        var out = ""
        do {
            let queue = try queueJSON()
            if queue != state.queue {
                out += "event: queue\ndata: \(queue)\n\n"
                state.queue = queue
            }
            let ids = try runIds(state)
            for (id, series) in try reader.lastSteps(runIds: ids) {
                for (key, step) in series.sorted(by: { $0.key < $1.key }) {
                    let seen = state.steps[id]?[key]
                    if let seen, seen >= step { continue }
                    let points = try reader.points(runId: id, key: key, after: seen).suffix(Self.maxPointsPerEvent)
                    state.steps[id, default: [:]][key] = step
                    if points.isEmpty { continue }
                    let data = JSON.object([
                        ("run", .number(Double(id))), ("key", .string(key)),
                        (
                            "points",
                            .array(
                                points.map {
                                    .array([.number(Double($0.step)), .number(orString: $0.value), .number($0.time)])
                                })
                        ),
                    ]).compact()
                    out += "event: metric\ndata: \(data)\n\n"
                }
            }
        } catch {
            out += "event: problem\ndata: \(JSON.string("cannot read the store: \(error)").compact())\n\n"
        }
        return out
    }

    /// Run counts by state and the queue, as one JSON line.
    func queueJSON() throws -> String {
        let counts = try reader.stateCounts()
        var byState: [String: Int] = [:]
        for c in counts { byState[c.state, default: 0] += c.count }
        let queue = try reader.queue(limit: 50)
        return JSON.object([
            ("counts", .object(byState.keys.sorted().map { ($0, .number(Double(byState[$0]!))) })),
            (
                "queue",
                .array(
                    queue.map {
                        .object([
                            ("id", .number(Double($0.id))), ("name", .string($0.name)), ("state", .string($0.state)),
                            ("step", $0.step.map { .number(Double($0)) } ?? .null),
                        ])
                    })
            ),
        ]).compact()
    }
}
