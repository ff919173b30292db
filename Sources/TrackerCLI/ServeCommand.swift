// `tracker serve`: the live dashboard in the browser (the Dashboard module), read-only, until
// Ctrl-C. A thin layer: options in, the server run on this thread's behalf, a clear error out.
import ArgumentParser
import Basics
import Dashboard
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve a live, read-only dashboard of the workspace's runs in the browser.",
        discussion: """
            Pages: / (experiments, run counts by state, the queue), /runs (the runs table: sortable,
            ?where= as in report, paginated), /runs/RUN (one run), /compare (curves and tables). Every
            view has a stable URL and downloads as &format=csv or &format=json. It binds 127.0.0.1;
            another --host needs --token, which every request must carry (open ?token=TOKEN once).
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Option(help: "Port to listen on (0 picks a free one).")
    var port: Int = 8787

    @Option(help: ArgumentHelp("Interface to bind; anything but loopback needs --token.", valueName: "address"))
    var host: String = "127.0.0.1"

    @Option(help: ArgumentHelp("Secret every request must carry (needed off loopback).", valueName: "secret"))
    var token: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, not \(port)") }
    }

    func run() throws {
        let host = self.host
        let server = try withCLIErrors {
            try DashboardServer(.init(home: workspace.resolvedHome, host: host, port: port, token: token))
        }
        let outcome = Outcome()
        let task = Task {
            do {
                try await server.run { port in
                    let shown = host.contains(":") ? "[\(host)]" : host
                    let line = "tracker serve: http://\(shown):\(port)/ (Ctrl-C stops it)\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                }
            } catch {
                outcome.set(error)
            }
            outcome.done.signal()
        }
        // Ctrl-C or SIGTERM cancel the server, which closes its live streams and returns.
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { task.cancel() }
            source.resume()
            sources.append(source)
        }
        outcome.done.wait()
        if let error = outcome.error, !(error is CancellationError) {
            throw CLIError(description: "tracker serve stopped: \(error)")
        }
    }

    /// The server task's error, handed to the waiting thread.
    final class Outcome: @unchecked Sendable {
        let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var stored: Error?
        var error: Error? { lock.withLock { stored } }
        func set(_ e: Error) { lock.withLock { stored = e } }
    }
}
