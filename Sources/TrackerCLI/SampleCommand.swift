// `tracker sample RUN-DIR-OR-CHECKPOINT --prompt "..."`: loads a checkpoint's weights, encodes the
// prompt with the run's tokenizer, and generates with the model's KV-cache decoder (Session's
// CheckpointSampler); this file parses the arguments and prints the text or JSON.
import ArgumentParser
import Foundation
import Session
import Training

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Generate text from a trained checkpoint.",
        discussion: """
            Examples:
              tracker sample .tracker/runs/quickstart-20260101-120000 --prompt "In the beginning"
              tracker sample run/checkpoints/step-000500.safetensors --tokens 100 --temperature 0 --format json
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Argument(
        help: "A run folder (its last checkpoint is used), a run name under <home>/runs, or a step-*.safetensors file.")
    var path: String

    @Option(help: "Text to continue.")
    var prompt = ""

    @Option(help: "Tokens to generate (at most the model's context minus the prompt).")
    var tokens = 200

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature = 0.8

    @Option(help: "Sample among the k most likely tokens; 0 keeps all.")
    var topK = 40

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 1337

    @Option(
        help: ArgumentHelp("tokenizer.json to use (default: the one recorded in the checkpoint).", valueName: "file"))
    var tokenizer: String?

    @Option(help: "Output: the text, or JSON on stdout.")
    var format: OutputFormat = .text

    func validate() throws {
        if tokens < 1 { throw ValidationError("--tokens must be at least 1") }
        // `temperature < 0` alone let nan through (every comparison with nan is false), and nan or
        // inf sampled garbage.
        if !(temperature >= 0 && temperature.isFinite) {
            throw ValidationError("--temperature must be 0 (greedy) or a positive number (got \(temperature))")
        }
        if topK < 0 { throw ValidationError("--top-k must be 0 (all tokens) or positive") }
    }

    func run() throws {
        let result = try withCLIErrors { () throws -> SampleResult in
            let inHome = workspace.resolvedHome + "/runs/" + path
            let local = FileManager.default.fileExists(atPath: path) || !FileManager.default.fileExists(atPath: inHome)
            var options = SamplingOptions()
            options.maxNewTokens = tokens
            options.temperature = temperature
            options.topK = topK
            options.seed = seed
            return try CheckpointSampler.sample(
                checkpoint: try TrainSession.checkpointPath(local ? path : inHome), tokenizer: tokenizer,
                prompt: prompt, options: options)
        }
        switch format {
        case .json: print(try prettyJSON(result))
        case .text: print(result.prompt + result.completion)
        }
    }
}
