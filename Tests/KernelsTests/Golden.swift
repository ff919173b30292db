// Loads this target's golden vectors (Tests/Golden/generate.py -> Golden/kernels.json).
import Foundation
import TestSupport

enum KernelGolden {
    static let cases: [String: GoldenCase] = {
        let url = Bundle.module.url(
            forResource: "kernels", withExtension: "json", subdirectory: "Golden")!
        return try! Golden.load(url)
    }()

    static subscript(name: String) -> GoldenCase { cases[name]! }
}
