// Parameter layout tables in the style of llm.c's ParameterTensors / fill_in_parameter_sizes: a
// list of named tensors carves one flat Float arena into slices, in order.

/// One named tensor inside a flat arena.
public struct TensorSpec: Sendable, Equatable {
    /// Dotted name, e.g. "blocks.0.attn.wqkv".
    public var name: String
    public var shape: [Int]
    /// Offset in floats from the start of the arena.
    public var offset: Int
    public var count: Int { shape.reduce(1, *) }
    /// Whether AdamW applies weight decay: true for 2-D matrices (embeddings included, as in
    /// nanoGPT), false for norm weights, biases and other vectors.
    public var decay: Bool

    public init(name: String, shape: [Int], offset: Int = 0, decay: Bool? = nil) {
        self.name = name
        self.shape = shape
        self.offset = offset
        self.decay = decay ?? (shape.count >= 2)
    }
}

/// Builds a layout by appending tensors one after another.
public struct LayoutBuilder: Sendable {
    public private(set) var tensors: [TensorSpec] = []
    public private(set) var count = 0
    public init() {}

    /// Appends a tensor and returns its offset.
    @discardableResult
    public mutating func add(_ name: String, _ shape: [Int], decay: Bool? = nil) -> Int {
        let spec = TensorSpec(name: name, shape: shape, offset: count, decay: decay)
        tensors.append(spec)
        count += spec.count
        return spec.offset
    }
}
