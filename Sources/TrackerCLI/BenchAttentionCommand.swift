// `tracker bench-attention` (hidden): the measurements behind bench/attention_speed.sh. For each
// attention case (a variant with its options, or a schedule around softmax_rope) and each
// context T it builds the same model with random weights, trains it on random tokens with the
// real trainer (both workers, B x T tokens per step, a warm-up step first, then the median of the
// timed steps) and generates T tokens with the schedule's own decoder (KV cache, recurrent state
// or staircase rows; the median of passes repeated for at least 1.5 s). Each (case, T) prints
// one JSON line on stdout; the script turns them into the table.
import ArgumentParser
import Attention
import Basics
import Foundation
import Kernels
import Model
import Training

struct BenchAttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-attention", abstract: "Measure training and generation speed per attention variant.",
        shouldDisplay: false)

    /// Cases beside every registered variant with its defaults: worst cases and layouts.
    static let extraCases =
        "stick_breaking:early_stop=false,probs_cache_mib=66,softmax_rope:kv_heads=1,staircase:chunk=64,steps=2"

    @Option(
        help: """
            Cases: a variant name, NAME:key=value,key=value for options, or staircase:chunk=C,steps=N \
            (default: every registered variant, then \(extraCases)).
            """)
    var cases = (AttentionRegistry.names + [extraCases]).joined(separator: ",")
    @Option(help: "Contexts, comma separated.") var contexts = "256,512,1024,2048"
    @Option(help: "Timed training steps after one warm-up step (the median counts).") var steps = 5
    @Option(help: "Tokens per training step (batch = tokens / T).") var tokensPerStep = 4096
    @Option(help: "Tokens generated per context: 0 = the whole context.") var generate = 0
    @Option var vocab = 8192
    @Option var channels = 256
    @Option var layers = 4
    @Option var heads = 4

    struct Line: Codable {
        var label: String, variant: String, schedule: String, context: Int, batch: Int
        var trainTokensPerSecond: Double, generatedTokens: Int, generateTokensPerSecond: Double
        var flopsPerToken: Double, passes: Int
    }

    func run() throws {
        try withCLIErrors {
            let Ts = try contexts.split(separator: ",").map { s -> Int in
                guard let t = Int(s.trimmingCharacters(in: .whitespaces)), t >= 1 else {
                    throw CLIError(description: "--contexts: '\(s)' is not a positive integer")
                }
                return t
            }
            for spec in try Self.parseCases(cases) {
                for T in Ts {
                    let line = try measure(spec, T: T)
                    let data = try JSONText.encoder().encode(line)
                    print(String(decoding: data, as: UTF8.self))
                    fflush(nil)
                }
            }
        }
    }

    struct Case {
        var label: String
        var variant = "softmax_rope"
        var options: [String: ConfigValue] = [:]
        var kvHeads: Int?
        var schedule = ScheduleConfig()
    }

    /// "a,b:x=1,y=2,c" -> cases; options after ':' run up to the next name without '='.
    static func parseCases(_ text: String) throws -> [Case] {
        var out: [Case] = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            if let eq = item.firstIndex(of: "="), !item.contains(":") {
                guard var last = out.popLast() else {
                    throw CLIError(description: "--cases: option '\(item)' before any name")
                }
                try add(String(item[..<eq]), String(item[item.index(after: eq)...]), to: &last)
                last.label += ",\(item)"
                out.append(last)
                continue
            }
            let parts = item.split(separator: ":", maxSplits: 1).map(String.init)
            var c = Case(label: item)
            if ScheduleRegistry.names.contains(parts[0]) {
                c.schedule = ScheduleConfig(name: parts[0])
            } else {
                guard AttentionRegistry.names.contains(parts[0]) else {
                    throw CLIError(
                        description: "--cases: unknown variant or schedule '\(parts[0])'; variants: "
                            + AttentionRegistry.names.joined(separator: ", "))
                }
                c.variant = parts[0]
            }
            if parts.count == 2 {
                guard let eq = parts[1].firstIndex(of: "=") else {
                    throw CLIError(description: "--cases: '\(item)' needs key=value")
                }
                try add(String(parts[1][..<eq]), String(parts[1][parts[1].index(after: eq)...]), to: &c)
            }
            out.append(c)
        }
        return out
    }

    static func add(_ key: String, _ text: String, to c: inout Case) throws {
        let value: ConfigValue =
            if let i = Int(text) { .int(i) } else if let d = Double(text) { .double(d) } else if let b = Bool(text) {
                .bool(b)
            } else { .string(text) }
        if key == "kv_heads" {
            guard case .int(let k) = value else { throw CLIError(description: "--cases: kv_heads must be an integer") }
            c.kvHeads = k
        } else if c.schedule.name != "plain" {
            c.schedule.options[key] = value
        } else {
            c.options[key] = value
        }
    }

    func measure(_ c: Case, T: Int) throws -> Line {
        let B = max(1, tokensPerStep / T)
        let config = ModelConfig(
            vocabSize: vocab, channels: channels, layers: layers, heads: heads, kvHeads: c.kvHeads, context: T,
            attention: AttentionConfig(variant: c.variant, options: c.options), schedule: c.schedule)
        try config.validate()
        let model = try LanguageModel(config: config)
        var train = TrainConfig()
        (train.batch, train.steps, train.warmup, train.evalEvery) = (B, steps + 1, 1, 0)
        let source = RandomTokens(B: B, T: T, vocab: vocab)
        let threads = BLAS.threads
        var stepSeconds: [Double] = []
        do {
            let trainer = try Trainer(model: model, config: train, source: source)
            trainer.trainStep()
            for _ in 0..<steps { stepSeconds.append(trainer.trainStep().seconds) }
        }
        BLAS.setThreads(threads)  // generation as `tracker sample` runs it
        let count = generate > 0 ? min(generate, T) : T
        let decoder = model.makeGenerator(maxTokens: count)
        var rng = SplitMix64(seed: 7)
        var passSeconds: [Double] = []
        let begin = DispatchTime.now()
        repeat {  // whole passes of `count` tokens, for at least 1.5 s (at most 5 passes)
            decoder.reset()
            let start = DispatchTime.now()
            for _ in 0..<count { _ = decoder.next(token: Int32(rng.next() % UInt64(vocab))) }
            passSeconds.append(secondsSince(start))
        } while secondsSince(begin) < 1.5 && passSeconds.count < 5
        let seconds = Self.median(stepSeconds)
        let genSeconds = Self.median(passSeconds)
        return Line(
            label: c.label, variant: c.variant, schedule: c.schedule.name, context: T, batch: B,
            trainTokensPerSecond: Double(B * T) / seconds, generatedTokens: count,
            generateTokensPerSecond: Double(count) / genSeconds, flopsPerToken: model.flopsPerToken,
            passes: model.schedule.passes)
    }
}

extension BenchAttentionCommand {
    static func median(_ x: [Double]) -> Double {
        let s = x.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// Uniform random tokens, every position supervised: speed only.
private final class RandomTokens: BatchSource {
    let B: Int, T: Int, vocab: Int
    var rng = SplitMix64(seed: 1)
    var batches = 0

    init(B: Int, T: Int, vocab: Int) { (self.B, self.T, self.vocab) = (B, T, vocab) }

    func next(inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) {
        for i in 0..<(B * T) {
            inputs[i] = Int32(rng.next() % UInt64(vocab))
            targets[i] = Int32(rng.next() % UInt64(vocab))
        }
        batches += 1
    }

    var position: DataLoaderState { DataLoaderState(seed: 1, batches: batches) }
    func seek(to position: DataLoaderState) {}
}
