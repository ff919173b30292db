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
            Input: a JSON object of named tensors (nested arrays of numbers) and options.
              "q": [H][T][d], "k": [Hkv][T][d], "v": [Hkv][T][dv]
                  (aaren takes its learned query as "q": [H][1][d])
              "dout": [H][T][dv]  optional: then the gradients of sum(out * dout)
              "x": [T][C]         optional: the layer input, for gates that read it
              the variant's own parameters (checkpoint names) and per-token gates:
                forgetting: "log_f": [H][T], or "x", "fgate.weight": [H][C] and
                  "fgate.bias": [H]
                stick_breaking, remainder = "bias": "remainder_bias": [H][dv]
                sigmoid, bias = "learned": "bias": [1]
              "options": {...}    as in the run config's [model.attention]
            Output: "out" [H][T][dv] and, with dout, "d" + the name of every input
            read ("dq", "dk", "dv", "dx", "dlog_f", "dfgate.weight", ...) as nested
            arrays of float64; sigmoid adds "dbias". Positions are 0..<T, and T is
            the context the variant is built for.

            Example:
              tracker attention --variant stick_breaking --input in.json --output out.json

            Variants and their options (name = default (valid values), then what
            it does):
            \(AttentionRegistry.optionsHelp)
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
                try AtomicFile.save(Array(text.utf8), to: output)
            } catch {
                throw CLIError(description: "\(error)")
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
        do {
            return try TensorInput(json: any)
        } catch let error as AttentionError {
            throw CLIError(description: "\(name): \(error.description)")
        }
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
