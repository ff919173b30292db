// A compact terminal line chart of several series: a braille canvas (each character is a 2x4 dot
// grid, so a 60x12 character plot has 120x48 dots), a y axis with three labels, the step range,
// the series number printed where each curve ends, and a numbered legend with a block sparkline
// of every series (drawn on the chart's common scale), so runs stay distinguishable without colour.
import Basics
import Foundation

enum TerminalChart {
    static let width = 60, height = 12
    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    static let colors = [34, 31, 32, 35, 36, 33]

    static func render(_ chart: ReportChart, color: Bool) -> String {
        let scale = ChartScale(chart)
        guard let scale else { return "(no finite values of \(chart.metric) to plot)" }
        let dotsX = width * 2
        let dotsY = height * 4
        var bits = [UInt8](repeating: 0, count: width * height)
        var owner = [Int](repeating: -1, count: width * height)
        var endRows: [Int: [Int]] = [:]
        for (s, series) in chart.series.enumerated() {
            var previous: (Int, Int)?
            var lastRow: Int?
            for p in series.points {
                guard let y = scale.y(p.value) else {
                    previous = nil
                    continue
                }
                let dx = Int((scale.x(p.step) * Double(dotsX - 1)).rounded())
                let dy = Int(((1 - y) * Double(dotsY - 1)).rounded())
                for (x, yy) in line(from: previous ?? (dx, dy), to: (dx, dy)) {
                    let cell = (yy / 4) * width + x / 2
                    bits[cell] |= dotBit(x % 2, yy % 4)
                    owner[cell] = s
                }
                previous = (dx, dy)
                lastRow = dy / 4
            }
            if let lastRow { endRows[lastRow, default: []].append(s + 1) }
        }
        let labels = [scale.label(1), scale.label(0.5), scale.label(0)]
        let labelWidth = labels.map(\.count).max() ?? 0
        var out: [String] = []
        for row in 0..<height {
            var label = ""
            if row == 0 {
                label = labels[0]
            } else if row == height / 2 {
                label = labels[1]
            } else if row == height - 1 {
                label = labels[2]
            }
            var text = String(repeating: " ", count: labelWidth - label.count) + label + (label.isEmpty ? " │" : " ┤")
            for col in 0..<width {
                let cell = row * width + col
                let glyph = Character(Unicode.Scalar(0x2800 + UInt32(bits[cell]))!)
                if color, bits[cell] != 0 {
                    text += "\u{1B}[\(colors[owner[cell] % colors.count])m\(glyph)\u{1B}[0m"
                } else {
                    text.append(glyph)
                }
            }
            if let ends = endRows[row] { text += " " + ends.map(String.init).joined(separator: ",") }
            out.append(text)
        }
        let pad = String(repeating: " ", count: labelWidth + 1)
        out.append(pad + "└" + String(repeating: "─", count: width))
        let first = "step \(scale.minStep)"
        let last = "\(scale.maxStep)"
        out.append(pad + " " + first + String(repeating: " ", count: max(1, width - first.count - last.count)) + last)
        // names on one line each (a control character shows as a space), padded by their width
        let names = chart.series.map {
            String($0.name.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : Character($0) })
        }
        let nameWidth = names.map(TextRenderer.displayWidth).max() ?? 0
        for (s, series) in chart.series.enumerated() {
            let number = color ? "\u{1B}[\(colors[s % colors.count])m\(s + 1)\u{1B}[0m" : "\(s + 1)"
            let finite = series.points.map(\.value).filter(\.isFinite)
            let range = finite.isEmpty ? "" : "  \(scale.valueLabel(finite.first!)) → \(scale.valueLabel(finite.last!))"
            let name = names[s] + String(repeating: " ", count: nameWidth - TextRenderer.displayWidth(names[s]))
            out.append("  \(number)  \(name)  \(sparkline(series, scale))\(range)")
        }
        if chart.logScale { out.append("  (log scale)") }
        return out.joined(separator: "\n")
    }

    /// The braille bit for dot column `x` (0-1) and row `y` (0-3) of a character.
    static func dotBit(_ x: Int, _ y: Int) -> UInt8 {
        let left: [UInt8] = [0x01, 0x02, 0x04, 0x40]
        let right: [UInt8] = [0x08, 0x10, 0x20, 0x80]
        return x == 0 ? left[y] : right[y]
    }

    /// The dots of a straight segment, endpoints included (Bresenham).
    static func line(from a: (Int, Int), to b: (Int, Int)) -> [(Int, Int)] {
        var (x, y) = a
        let dx = abs(b.0 - x)
        let dy = -abs(b.1 - y)
        let sx = x < b.0 ? 1 : -1
        let sy = y < b.1 ? 1 : -1
        var err = dx + dy
        var out: [(Int, Int)] = []
        while true {
            out.append((x, y))
            if x == b.0 && y == b.1 { return out }
            let e2 = 2 * err
            if e2 >= dy {
                err += dy
                x += sx
            }
            if e2 <= dx {
                err += dx
                y += sy
            }
        }
    }

    /// 24 blocks sampled from the series (linearly interpolated between its points) on the
    /// chart's common scale; blank before the first and after the last finite point.
    static func sparkline(_ series: ReportChart.Series, _ scale: ChartScale) -> String {
        let n = 24
        let points = series.points.compactMap { p in scale.y(p.value).map { (x: scale.x(p.step), y: $0) } }
        guard let first = points.first, let last = points.last else { return String(repeating: " ", count: n) }
        var out = ""
        var j = 0
        for i in 0..<n {
            let x = (Double(i) + 0.5) / Double(n)
            if points.count == 1 || x < first.x - 0.5 / Double(n) || x > last.x + 0.5 / Double(n) {
                out.append(points.count == 1 && i == 0 ? blocks[min(7, Int(first.y * 7.999))] : " ")
                continue
            }
            while j + 1 < points.count - 1 && points[j + 1].x < x { j += 1 }
            let a = points[j]
            let b = points[min(j + 1, points.count - 1)]
            let t = b.x > a.x ? min(1, max(0, (x - a.x) / (b.x - a.x))) : 0
            out.append(blocks[min(7, max(0, Int((a.y + t * (b.y - a.y)) * 7.999)))])
        }
        return out
    }
}

/// Maps steps and values to [0, 1] for both chart renderers.
struct ChartScale {
    let minStep: Int64, maxStep: Int64
    let low: Double, high: Double
    let log: Bool

    init?(_ chart: ReportChart) {
        let points = chart.series.flatMap(\.points)
        let spread = chart.series.flatMap(\.band).flatMap { [$0.low, $0.high] }
        let values = (points.map(\.value) + spread).filter { $0.isFinite && (!chart.logScale || $0 > 0) }
        guard let lo = values.min(), let hi = values.max() else { return nil }
        log = chart.logScale
        minStep = points.map(\.step).min() ?? 0
        maxStep = points.map(\.step).max() ?? 0
        var l = log ? log10(lo) : lo
        var h = log ? log10(hi) : hi
        if h - l < 1e-12 {
            l -= 0.5
            h += 0.5
        }
        low = l
        high = h
    }

    func x(_ step: Int64) -> Double {
        maxStep == minStep ? 0 : Double(step - minStep) / Double(maxStep - minStep)
    }

    /// The value's height in [0, 1]; nil for NaN, infinities and (on a log scale) non-positive values.
    func y(_ v: Double) -> Double? {
        guard v.isFinite, !log || v > 0 else { return nil }
        return ((log ? log10(v) : v) - low) / (high - low)
    }

    /// The value at height `t` in [0, 1].
    func value(at t: Double) -> Double {
        let v = low + t * (high - low)
        return log ? pow(10, v) : v
    }

    func label(_ t: Double) -> String { valueLabel(value(at: t)) }

    func valueLabel(_ v: Double) -> String {
        let span = log ? abs(value(at: 1) - value(at: 0)) : high - low
        let digits = span >= 100 ? 0 : span >= 10 ? 1 : span >= 1 ? 2 : span >= 0.1 ? 3 : 4
        return formatFixed(v, digits)
    }
}
