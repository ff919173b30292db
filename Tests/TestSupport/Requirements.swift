// What tests need from outside the package, and the tag of the slow ones. A test that needs a
// tool (python3 with `tokenizers`, the built `tracker` binary, ...) states it with
// `.requires("what", condition)`: it runs when the tool is there; when it is not, it is skipped
// with a warning on stderr, or, under CI=true (where .ci/setup installs everything), it fails.
import Foundation
import Testing

extension Tag {
    /// End-to-end tests that take seconds each (real processes, training on the bundled corpus,
    /// parity with Python libraries): `swift test --skip-build --skip ...` leaves them out, see the
    /// README's test section.
    @Tag public static var slow: Self
}

/// True when the environment says CI (`CI=true` or `CI=1`): missing requirements fail there.
public let runningInCI: Bool = {
    guard let value = ProcessInfo.processInfo.environment["CI"]?.lowercased() else { return false }
    return value == "true" || value == "1"
}()

/// A test's requirement (a tool under CI=true, a fixture file) that is missing.
public struct MissingRequirement: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test (or every test of the suite) when `available()` is true. Otherwise the test
    /// fails under CI=true; without CI it is skipped and a warning on stderr says so (once).
    public static func requires(
        _ what: String, _ available: @autoclosure @escaping @Sendable () -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Self {
        .enabled("needs \(what)", sourceLocation: sourceLocation) {
            if available() { return true }
            if runningInCI {
                throw MissingRequirement(description: "CI=true but this test needs \(what): run .ci/setup")
            }
            SkipWarnings.shared.warnOnce(
                "warning: skipping the tests that need \(what) (run .ci/setup; with CI=true they fail)")
            return false
        }
    }
}

/// Prints each skip warning once per test process.
private final class SkipWarnings: @unchecked Sendable {
    static let shared = SkipWarnings()
    private let lock = NSLock()
    private var printed: Set<String> = []

    func warnOnce(_ message: String) {
        lock.lock()
        let first = printed.insert(message).inserted
        lock.unlock()
        if first { FileHandle.standardError.write(Data((message + "\n").utf8)) }
    }
}

/// True when `python3 -c "import <modules>"` succeeds, e.g. `pythonCanImport("safetensors, numpy")`.
public func pythonCanImport(_ modules: String) -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import \(modules)"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}
