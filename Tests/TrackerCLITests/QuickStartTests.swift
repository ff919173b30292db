// The README's quick start: its commands build what they then run. A static build
// (`--static-swift-stdlib`) of every target fails at the test support target, which imports Swift
// Testing (absent from the static standard library), so such a build must name the product.
import Foundation
import Testing

struct QuickStartTests {
    /// The shell lines of the README's first ```sh block under "## Quick start".
    static func quickStartLines() throws -> [String] {
        let readme = try String(contentsOfFile: repoRoot + "/README.md", encoding: .utf8)
        let section = try #require(readme.range(of: "## Quick start"), "README.md has a Quick start section")
        let rest = readme[section.upperBound...]
        let open = try #require(rest.range(of: "```sh\n"), "the Quick start has a ```sh block")
        let close = try #require(rest[open.upperBound...].range(of: "```"))
        return rest[open.upperBound..<close.lowerBound].split(separator: "\n").map(String.init)
            .filter { !$0.hasPrefix("#") && !$0.isEmpty }
    }

    @Test func twoCommandsAndStaticBuildsNameTheProduct() throws {
        let lines = try Self.quickStartLines()
        #expect(lines.count == 2, "the quick start is exactly two commands: \(lines)")
        for line in lines {
            for command in line.components(separatedBy: "&&") where command.contains("swift build") {
                if command.contains("--static-swift-stdlib") {
                    #expect(command.contains("--product tracker"), "\(command): a static build of every target fails")
                }
                if command.contains("-c release") && !command.contains("--scratch-path") {
                    #expect(line.contains(".build/release/tracker"), "\(line): runs the binary it built")
                }
            }
        }
    }
}
