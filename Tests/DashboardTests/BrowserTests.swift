// The dashboard in a real browser: headless Chromium (Debian's `chromium`, installed by
// .ci/setup) loads each view from a server over the test workspace; the DOM it built must hold
// the runs and the curves (SVG polylines), and a screenshot of each view is saved (in
// $TRACKER_SCREENSHOTS if set, else a temporary folder; bench/screenshots/ keeps one).
import Foundation
import TestSupport
import Testing

@testable import Dashboard

let chromiumPath = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

@Suite(.tags(.slow), .requires("chromium (apt-get install chromium)", chromiumPath != nil), .serialized)
struct BrowserTests {
    static func chromium(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromiumPath!)
        let profile = NSTemporaryDirectory() + "chromium-\(UUID().uuidString)"
        process.arguments =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--user-data-dir=\(profile)", "--hide-scrollbars", "--timeout=20000",
            ] + arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // A browser that hangs is stopped: the test then fails on what it did not produce.
        let watchdog = DispatchWorkItem { if process.isRunning { process.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + 90, execute: watchdog)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        watchdog.cancel()
        try? FileManager.default.removeItem(atPath: profile)
        return String(decoding: data, as: UTF8.self)
    }

    @Test func eachViewRendersItsRunsAndCurves() async throws {
        let server = try await TestServer.start()
        defer { server.stop() }
        let folder =
            ProcessInfo.processInfo.environment["TRACKER_SCREENSHOTS"]
            ?? NSTemporaryDirectory() + "dashboard-screenshots-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let base = "http://127.0.0.1:\(server.port)"
        let views: [(name: String, path: String, expected: [String], height: Int)] = [
            ("experiments", "/", ["tiny-lr", "tiny-lr-more", "Queue", "lr0.001-seed1"], 900),
            ("runs", "/runs", ["train.lr", "page 1 of 1 (7 runs)", "lr0.003-seed2", "&lt;script&gt;"], 900),
            ("compare", "/compare?experiment=tiny-lr", ["<polyline", "<polygon", "train.lr", "task/acc"], 2600),
            ("run", "/runs/\(Fixture.shared.trainedId)", ["<polyline", "State history", "Checkpoints"], 2600),
        ]
        for view in views {
            let url = base + view.path
            // A cold start on a loaded machine can outlast --timeout and dump an empty page (seen
            // once, with two training runs busy on both cores): such a dump is retried, twice.
            var dom = ""
            for _ in 0..<3 where dom.isEmpty || dom.contains("<body></body>") {
                dom = try await HTTPClient.offThread { try Self.chromium(["--dump-dom", url]) }
            }
            for text in view.expected {
                #expect(dom.contains(text), "\(view.name): the DOM lacks \(text)")
            }
            #expect(!dom.contains("<script>alert"), "\(view.name): an unescaped script")
            let png = "\(folder)/dashboard-\(view.name).png"
            // The same cold start can capture a blank page (a white PNG of a few KB; seen once with
            // four training runs and a test build beside the tests): retried, twice.
            var bytes = Data()
            for _ in 0..<3 where bytes.count <= 10_000 {
                _ = try await HTTPClient.offThread {
                    try Self.chromium(["--screenshot=\(png)", "--window-size=1280,\(view.height)", url])
                }
                bytes = (try? Data(contentsOf: URL(fileURLWithPath: png))) ?? Data()
            }
            #expect(bytes.count > 10_000 && bytes.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "\(png)")
        }
    }
}
