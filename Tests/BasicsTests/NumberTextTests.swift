// Fixed-point and integer text written as bytes (tables append them to their buffers): the
// same text as printing the rounded value, and as Swift's own integer text.
import Basics
import Foundation
import Testing

struct NumberTextTests {
    @Test func fixedRoundsHalfAwayFromZeroAndDropsTheSignOfZero() {
        #expect(formatFixed(3.14159, 4) == "3.1416")
        #expect(formatFixed(-1.23456, 2) == "-1.23")
        #expect(formatFixed(2.5, 0) == "3")
        #expect(formatFixed(-2.5, 0) == "-3")
        #expect(formatFixed(0.05, 1) == "0.1")
        #expect(formatFixed(-0.00004, 4) == "0.0000")
        #expect(formatFixed(12, 3) == "12.000")
        #expect(formatFixed(0.0007, 4) == "0.0007")
        #expect(formatFixed(1e20, 2) == formatShortest(1e20))
        #expect(formatFixed(.nan, 4) == "nan")
        #expect(formatFixed(-.infinity, 1) == "-inf")
    }

    /// Random values against the rounded value's decimal digits computed apart (integer part,
    /// then the fraction zero-padded), and appended after other bytes.
    @Test func fixedMatchesItsRoundedValue() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let digits = Int.random(in: 0...6, using: &rng)
            let v = Double.random(in: -1e6...1e6, using: &rng) / pow(10, Double.random(in: 0...6, using: &rng))
            let scale = pow(10, Double(digits))
            let whole = Int64((abs(v) * scale).rounded())
            let unit = Int64(scale)
            let fraction = String(whole % unit)
            let expected =
                (v < 0 && whole != 0 ? "-" : "") + String(whole / unit)
                + (digits == 0 ? "" : "." + String(repeating: "0", count: digits - fraction.count) + fraction)
            var out = Array("x".utf8)
            appendFixed(v, digits, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == "x" + expected, "\(v) with \(digits) digits")
        }
    }

    @Test func integersMatchSwiftsText() {
        var rng = SystemRandomNumberGenerator()
        let values: [Int64] =
            [0, 1, -1, 9, 10, -10, .max, .min, .max - 1, .min + 1]
            + (0..<5000).map { _ in
                Int64.random(in: .min ... .max, using: &rng) >> Int64.random(in: 0...62, using: &rng)
            }
        for v in values {
            var out = Array("ab".utf8)
            appendInteger(v, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == "ab" + String(v))
        }
    }
}
