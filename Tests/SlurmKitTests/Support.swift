import Foundation
import Testing

extension Tag {
    /// Needs a running Slurm cluster (`SLURM_CONF`), e.g. from `.ci/services/slurm.sh start`.
    @Tag static var slurm: Self
}

/// The text of Fixtures/NAME.
func fixture(_ name: String) throws -> String {
    let url = try #require(
        Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil), "missing fixture \(name)")
    return try String(contentsOf: url, encoding: .utf8)
}

/// A new empty directory under the temp dir, removed by the caller.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("slurmkit-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
