// Errors of the Kernels module. Kernels themselves check shapes with preconditions (programmer
// errors); this covers the few inputs that come from users, such as token ids.

public enum KernelsError: Error, CustomStringConvertible, Equatable {
    case tokenOutOfRange(token: Int32, vocabSize: Int)

    public var description: String {
        switch self {
        case .tokenOutOfRange(let token, let V):
            return "token id \(token) is outside the vocabulary 0..<\(V); "
                + "rebuild the shards with the tokenizer this model was configured for"
        }
    }
}
