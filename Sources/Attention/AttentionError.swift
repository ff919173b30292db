// Errors of the Attention module: bad variant names, unknown or mistyped options, shapes a
// variant cannot run. Every message says what to change in the run config.
import Basics

public enum AttentionError: Error, CustomStringConvertible, Equatable {
    case unknownVariant(String, known: [String])
    case unknownOption(variant: String, option: String, known: [String])
    case optionType(variant: String, option: String, expected: String, got: ConfigValue)
    case invalidOption(variant: String, option: String, reason: String)
    case invalidShape(String)

    public var description: String {
        switch self {
        case .unknownVariant(let name, let known):
            return "unknown attention variant '\(name)'; set model.attention.variant to one of: "
                + known.joined(separator: ", ")
        case .unknownOption(let variant, let option, let known):
            let list =
                known.isEmpty ? "it takes no options" : "it takes: " + known.joined(separator: ", ")
            return "attention variant '\(variant)' has no option '\(option)' (\(list)); "
                + "remove it from model.attention.options or check its spelling"
        case .optionType(let variant, let option, let expected, let got):
            return "option '\(option)' of attention variant '\(variant)' must be \(expected), "
                + "got \(got)"
        case .invalidOption(let variant, let option, let reason):
            return "option '\(option)' of attention variant '\(variant)': \(reason)"
        case .invalidShape(let message):
            return message
        }
    }
}
