// Converts between the layer layout (fused qkv rows (B, T, (NH + 2 NKV) hs)) and the head-major
// tensors of the tensor-level entry points (q [B*NH][T][hs], k, v [B*NKV][T][hs]): batch rows
// become extra heads, which keeps the GQA map (b NH + h) / group = b NKV + h / group.
import Attention
import Foundation
import TestSupport

extension Harness {
    /// (q, k, v, dout-shaped) head-major copies of this harness's qkv.
    func headMajor() -> (q: [Float], k: [Float], v: [Float]) {
        let (NH, NKV, hs, W) = (shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        var q = [Float]()
        var k = [Float]()
        var v = [Float]()
        for b in 0..<B {
            for h in 0..<NH { for t in 0..<T { for c in 0..<hs { q.append(qkv[(b * T + t) * W + h * hs + c]) } } }
            for g in 0..<NKV {
                for t in 0..<T { for c in 0..<hs { k.append(qkv[(b * T + t) * W + (NH + g) * hs + c]) } }
            }
            for g in 0..<NKV {
                for t in 0..<T { for c in 0..<hs { v.append(qkv[(b * T + t) * W + (NH + NKV + g) * hs + c]) } }
            }
        }
        return (q, k, v)
    }

    /// A layer-layout (B, T, NH*hs) tensor such as out or dout, head-major.
    func headMajor(out x: [Float]) -> [Float] {
        let (NH, hs) = (shape.heads, shape.headSize)
        var r = [Float]()
        for b in 0..<B {
            for h in 0..<NH { for t in 0..<T { for c in 0..<hs { r.append(x[(b * T + t) * NH * hs + h * hs + c]) } } }
        }
        return r
    }

    /// Head-major dq, dk, dv back into the fused (B, T, W) layout.
    func layerLayout(dq: [Float], dk: [Float], dv: [Float]) -> [Float] {
        let (NH, NKV, hs, W) = (shape.heads, shape.kvHeads, shape.headSize, shape.qkvWidth)
        var r = [Float](repeating: 0, count: B * T * W)
        for b in 0..<B {
            for t in 0..<T {
                for c in 0..<hs {
                    for h in 0..<NH { r[(b * T + t) * W + h * hs + c] = dq[((b * NH + h) * T + t) * hs + c] }
                    for g in 0..<NKV {
                        r[(b * T + t) * W + (NH + g) * hs + c] = dk[((b * NKV + g) * T + t) * hs + c]
                        r[(b * T + t) * W + (NH + NKV + g) * hs + c] = dv[((b * NKV + g) * T + t) * hs + c]
                    }
                }
            }
        }
        return r
    }
}

/// max |a - b| / max(1e-3, max |b|): the error relative to the reference tensor's scale.
func maxRelativeError(_ a: [Float], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    let err = zip(a, b).reduce(0.0) { max($0, abs(Double($1.0) - $1.1)) }
    return err / max(b.reduce(0.0) { max($0, abs($1)) }, 1e-3)
}

func maxRelativeError(_ a: [Float], _ b: [Float]) -> Double { maxRelativeError(a, b.map { Double($0) }) }

/// One Golden/<variant>-<case>.json (format in Golden/README.md), tensors flattened row-major.
struct HeadGolden {
    let H: Int, Hkv: Int, T: Int, d: Int, dv: Int
    let input: [String: [Float]], output: [String: [Double]]

    init(_ file: String) throws {
        let url = Bundle.module.url(forResource: file, withExtension: "json", subdirectory: "Golden")!
        let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let shapes = root["shapes"] as! [String: Int]
        (H, Hkv, T, d, dv) = (shapes["H"]!, shapes["Hkv"]!, shapes["T"]!, shapes["d"]!, shapes["dv"]!)
        func flat(_ x: Any) -> [Double] {
            if let a = x as? [Any] { return a.flatMap(flat) }
            return [(x as! NSNumber).doubleValue]
        }
        var inp = root["input"] as! [String: Any]
        inp["options"] = nil
        input = inp.mapValues { flat($0).map { Float($0) } }
        output = (root["output"] as! [String: Any]).mapValues(flat)
    }
}
