// `tracker attention`: one variant's forward (and backward, when "dout" is given) on tensors read
// from JSON, so a kernel can be checked against any reference implementation (numpy, PyTorch).
import ArgumentParser
import Attention
import Basics
import Foundation

struct AttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Run one attention variant on tensors from a JSON file (forward, and backward with dout).",
        discussion: """
            Variants: \(TensorInterface.variants.joined(separator: ", ")).

            Input:  {"q": [H][T][d], "k": [Hkv][T][d], "v": [Hkv][T][dv], "dout": [H][T][dv] (optional),
                     "options": {...}, "log_f": [H][T] (forgetting), "remainder_bias": [H][dv]
                     (stick_breaking with remainder = "bias")}; aaren takes its learned query as
                     "q": [H][1][d].
            Output: {"out", "dq", "dk", "dv"} plus "dlog_f", "dremainder_bias" or "dbias" where they
                    apply; nested arrays of float64. Gradients are of sum(out * dout).
            Options are named as in the run config ([model.attention.options]).

            Example:
              tracker attention --variant stick_breaking --input in.json --output out.json
            """)

    @Option(help: "Variant name (see the list above).")
    var variant: String

    @Option(help: ArgumentHelp("Input JSON file, or - for stdin.", valueName: "file"))
    var input: String

    @Option(help: ArgumentHelp("Output JSON file, or - for stdout.", valueName: "file"))
    var output = "-"

    func run() throws {
        let result = try withCLIErrors { () throws -> TensorOutput in
            let data: Data
            if input == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let d = FileManager.default.contents(atPath: input) else {
                    throw CLIError(description: "\(input): cannot read the input file (check the path)")
                }
                data = d
            }
            return try TensorInterface.run(variant: variant, try TensorJSON.decode(data, name: input))
        }
        let text = TensorJSON.encode(result)
        if output == "-" {
            print(text)
        } else {
            do {
                try text.write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                throw CLIError(description: "\(output): cannot write the output (\(error.localizedDescription))")
            }
        }
    }
}

/// The JSON side of the tensor interface: parsing nested arrays and options, writing results.
enum TensorJSON {
    static func decode(_ data: Data, name: String) throws -> TensorInput {
        let any: Any
        do {
            any = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw CLIError(description: "\(name): not valid JSON (\(error.localizedDescription))")
        }
        guard let root = any as? [String: Any] else {
            throw CLIError(description: "\(name): the top level must be an object")
        }
        let known: Set<String> = ["q", "k", "v", "dout", "options", "log_f", "remainder_bias"]
        if let extra = root.keys.sorted().first(where: { !known.contains($0) }) {
            throw CLIError(
                description: "\(name): unknown key \"\(extra)\" (known: \(known.sorted().joined(separator: ", ")))")
        }
        func tensor3(_ key: String) throws -> [[[Double]]]? {
            guard let v = root[key] else { return nil }
            guard let a = v as? [[[NSNumber]]] else {
                throw CLIError(description: "\(name): \"\(key)\" must be a 3-level nested array of numbers")
            }
            return a.map { $0.map { $0.map(\.doubleValue) } }
        }
        func tensor2(_ key: String) throws -> [[Double]]? {
            guard let v = root[key] else { return nil }
            guard let a = v as? [[NSNumber]] else {
                throw CLIError(description: "\(name): \"\(key)\" must be a 2-level nested array of numbers")
            }
            return a.map { $0.map(\.doubleValue) }
        }
        guard let q = try tensor3("q"), let k = try tensor3("k"), let v = try tensor3("v") else {
            throw CLIError(description: "\(name): \"q\", \"k\" and \"v\" are required")
        }
        var options: [String: ConfigValue] = [:]
        if let raw = root["options"] {
            guard let dict = raw as? [String: Any] else {
                throw CLIError(description: "\(name): \"options\" must be an object")
            }
            for (key, value) in dict {
                guard let v = ConfigValue(jsonValue: value) else {
                    throw CLIError(
                        description:
                            "\(name): option \"\(key)\" must be a number, a string, true/false or a list of numbers")
                }
                options[key] = v
            }
        }
        return TensorInput(
            q: q, k: k, v: v, dout: try tensor3("dout"), options: options, logF: try tensor2("log_f"),
            remainderBias: try tensor2("remainder_bias"))
    }

    static func encode(_ output: TensorOutput) -> String {
        var parts: [String] = []
        for t in output.tensors {
            var i = 0
            parts.append("\"\(t.name)\": " + nested(t.values, t.shape[...], &i))
        }
        for s in output.scalars { parts.append("\"\(s.name)\": \(number(s.value))") }
        return "{\n  " + parts.joined(separator: ",\n  ") + "\n}"
    }

    private static func nested(_ values: [Float], _ shape: ArraySlice<Int>, _ i: inout Int) -> String {
        guard let n = shape.first else {
            defer { i += 1 }
            return number(Double(values[i]))
        }
        return "[" + (0..<n).map { _ in nested(values, shape.dropFirst(), &i) }.joined(separator: ", ") + "]"
    }

    private static func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
}
