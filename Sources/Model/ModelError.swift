// Errors of the Model module: configurations that cannot be built, with the field to change.
import Attention

public enum ModelError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(field: String, message: String)
    case attention(AttentionError)

    public var description: String {
        switch self {
        case .invalidConfig(let field, let message):
            return "model.\(field): \(message)"
        case .attention(let error):
            return "model.attention: \(error)"
        }
    }
}
