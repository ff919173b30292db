// SHA-256 (FIPS 180-4), written here so that every stage can checksum its files without pulling
// in a crypto package (swift-crypto adds about a minute to a cold build for this one function).
// Streaming: feed bytes with `update`, read the digest with `finalize`. On CPUs with the SHA
// extensions the compression function runs there (CSHA256): 4.5x faster source checksums in a
// same-run ingest under load.
import CSHA256

/// A streaming SHA-256 hasher. No allocation per hash: the partial block lives inline, and
/// `finalizeWords` hands back the digest as eight words.
public struct SHA256: Sendable {
    /// The digest as eight big-endian words (the bytes are each word's, high byte first).
    public typealias Words = (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)

    private var state: Words = (
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a,
        0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19
    )
    private var pending: (SIMD32<UInt8>, SIMD32<UInt8>) = (.zero, .zero)
    private var pendingCount = 0
    private var totalBytes: UInt64 = 0
    private let hardware: Bool

    /// True when this CPU has the SHA extensions, which every hasher then uses.
    public static let hardwareAvailable = tracker_sha256_hw_available() != 0

    /// `hardware: false` forces the portable implementation (tests compare the two).
    public init(hardware: Bool = SHA256.hardwareAvailable) {
        self.hardware = hardware && SHA256.hardwareAvailable
    }

    /// Hashes `bytes` in one call and returns the lowercase hex digest.
    public static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        var h = SHA256()
        h.update(bytes)
        return h.finalizeHex()
    }

    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let done: Void? = bytes.withContiguousStorageIfAvailable { buf in
            update(UnsafeRawBufferPointer(buf))
        }
        if done == nil { update(Array(bytes)) }
    }

    public mutating func update(_ raw: UnsafeRawBufferPointer) {
        guard var p = raw.baseAddress, raw.count > 0 else { return }
        var n = raw.count
        totalBytes &+= UInt64(n)
        if pendingCount > 0 {
            let take = min(64 - pendingCount, n)
            let at = pendingCount
            withUnsafeMutableBytes(of: &pending) {
                $0.baseAddress!.advanced(by: at).copyMemory(from: p, byteCount: take)
            }
            pendingCount += take
            p += take
            n -= take
            if pendingCount < 64 { return }
            var block = pending
            withUnsafeBytes(of: &block) { compress($0.baseAddress!, blocks: 1) }
            pendingCount = 0
        }
        if n >= 64 {
            compress(p, blocks: n / 64)
            p += n / 64 * 64
            n %= 64
        }
        withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.copyMemory(from: p, byteCount: n) }
        pendingCount = n
    }

    /// Pads, processes the last block and returns the digest's eight words.
    public mutating func finalizeWords() -> Words {
        let bitLength = totalBytes &* 8
        // 0x80, zeros up to 8 bytes before a block's end, then the bit length: one or two blocks.
        let length = (pendingCount + 9 + 63) / 64 * 64 - pendingCount
        var tail: (SIMD64<UInt8>, SIMD64<UInt8>) = (.zero, .zero)
        withUnsafeMutableBytes(of: &tail) { t in
            t[0] = 0x80
            for i in 0..<8 { t[length - 1 - i] = UInt8(truncatingIfNeeded: bitLength >> (8 * UInt64(i))) }
        }
        let saved = totalBytes
        withUnsafeBytes(of: tail) { update(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        totalBytes = saved
        precondition(pendingCount == 0)
        return state
    }

    /// Pads, processes the last block and returns the 32-byte digest.
    public mutating func finalize() -> [UInt8] {
        let s = finalizeWords()
        let words = [s.0, s.1, s.2, s.3, s.4, s.5, s.6, s.7]
        return words.flatMap { w in (0..<4).map { UInt8(truncatingIfNeeded: w >> (24 - 8 * UInt32($0))) } }
    }

    public mutating func finalizeHex() -> String { Hex.string(finalize()) }

    private mutating func compress(_ data: UnsafeRawPointer, blocks: Int) {
        if hardware {
            withUnsafeMutableBytes(of: &state) {
                tracker_sha256_hw_blocks(
                    $0.baseAddress!.assumingMemoryBound(to: UInt32.self), data.assumingMemoryBound(to: UInt8.self),
                    blocks)
            }
            return
        }
        for b in 0..<blocks { compressPortable(data + 64 * b) }
    }

    private static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4,
        0xab1c_5ed5, 0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe,
        0x9bdc_06a7, 0xc19b_f174, 0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f,
        0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da, 0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7,
        0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967, 0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc,
        0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85, 0xa2bf_e8a1, 0xa81a_664b,
        0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070, 0x19a4_c116,
        0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7,
        0xc671_78f2,
    ]

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 {
        (x >> n) | (x << (32 - n))
    }

    private mutating func compressPortable(_ block: UnsafeRawPointer) {
        var w = (
            UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0),
            UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0), UInt32(0)
        )
        withUnsafeMutableBytes(of: &w) { wb in
            let ws = wb.bindMemory(to: UInt32.self)
            for i in 0..<16 { ws[i] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)) }
        }
        var (a, b, c, d, e, f, g, h) = state
        Self.k.withUnsafeBufferPointer { k in
            withUnsafeMutableBytes(of: &w) { wb in
                let ws = wb.bindMemory(to: UInt32.self)
                for i in 0..<64 {
                    let wi: UInt32
                    if i < 16 {
                        wi = ws[i]
                    } else {
                        let w15 = ws[(i - 15) & 15]
                        let w2 = ws[(i - 2) & 15]
                        let s0 = Self.rotr(w15, 7) ^ Self.rotr(w15, 18) ^ (w15 >> 3)
                        let s1 = Self.rotr(w2, 17) ^ Self.rotr(w2, 19) ^ (w2 >> 10)
                        wi = ws[i & 15] &+ s0 &+ ws[(i - 7) & 15] &+ s1
                        ws[i & 15] = wi
                    }
                    let S1 = Self.rotr(e, 6) ^ Self.rotr(e, 11) ^ Self.rotr(e, 25)
                    let ch = (e & f) ^ (~e & g)
                    let t1 = h &+ S1 &+ ch &+ k[i] &+ wi
                    let S0 = Self.rotr(a, 2) ^ Self.rotr(a, 13) ^ Self.rotr(a, 22)
                    let maj = (a & b) ^ (a & c) ^ (b & c)
                    let t2 = S0 &+ maj
                    h = g
                    g = f
                    f = e
                    e = d &+ t1
                    d = c
                    c = b
                    b = a
                    a = t1 &+ t2
                }
            }
        }
        state = (
            state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d,
            state.4 &+ e, state.5 &+ f, state.6 &+ g, state.7 &+ h
        )
    }
}
