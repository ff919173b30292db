// Live updates: a metric logged while a page's event stream is open arrives on it, and so does
// a change of the queue.
import Basics
import Foundation
import Store
import Testing

@testable import Dashboard

@Suite(.serialized) struct LiveTests {
    @Test func aMetricLoggedAfterTheStreamOpenedArrives() async throws {
        let server = try await TestServer.start()
        defer { server.stop() }
        let home = Fixture.home
        let run = Fixture.shared.runningId
        let step: Int64 = 7_000 + Int64.random(in: 0..<1000)
        let port = server.port
        // The stream ends as soon as the event arrives; the long limit is for CI, which runs every
        // suite at once on 2 cores (20 s was once not enough there).
        let text = try await HTTPClient.offThread {
            try HTTPClient.stream(
                port: port, path: "/events", seconds: 90,
                opened: {
                    let db = try TrackerDB(home: home)
                    try db.logMetrics([
                        MetricPoint(
                            runId: run, key: MetricKey.trainLoss, step: step, value: 2.5,
                            time: Date().timeIntervalSince1970)
                    ])
                },
                until: { $0.contains("[\(step),2.5,") })
        }
        #expect(text.contains("text/event-stream"))
        #expect(text.contains("event: metric"), "no metric event in: \(text.prefix(500))")
        #expect(text.contains("\"run\":\(run),\"key\":\"train/loss\"") && text.contains("[\(step),2.5,"))
    }

    @Test func theFeedSendsOnlyWhatChangedSinceItOpened() throws {
        let dashboard = try Dashboard(home: Fixture.home)
        let feed = LiveFeed(reader: dashboard.reader, interval: .milliseconds(10))
        var state = LiveFeed.State(watched: [])
        state.steps = try dashboard.reader.lastSteps(runIds: try feed.runIds(state))
        state.queue = try feed.queueJSON()
        #expect(feed.poll(&state) == "")
        let db = try TrackerDB(home: Fixture.home)
        let step: Int64 = 9_000 + Int64.random(in: 0..<1000)
        try db.logMetrics([
            MetricPoint(runId: Fixture.shared.runningId, key: "val/loss", step: step, value: .nan, time: 1)
        ])
        let events = feed.poll(&state)
        #expect(events.contains("event: metric") && events.contains("[\(step),\"nan\",1]"))
        #expect(feed.poll(&state) == "")
    }
}
