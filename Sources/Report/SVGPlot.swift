// Loss curves as a standalone inline SVG: axes with "nice" ticks (1, 2, 5 x 10^k; decades on a
// log scale), light grid lines, one polyline per series (broken at NaN or infinite values) over
// its shaded spread band (mean ± std over seeds) if it has one, and a legend in the top-right
// corner, where falling loss curves leave room. Values show on hover through SVG <title>s on
// (invisible until hovered) points, at most `maxHoverPoints` per series. No scripts, no fonts.
import Basics
import Foundation
import Store

enum SVGPlot {
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f"]
    static let width = 880.0, height = 360.0
    static let left = 64.0, right = 16.0, top = 14.0, bottom = 44.0

    static func render(_ chart: ReportChart, logScale: Bool) -> String {
        var c = chart
        c.logScale = logScale
        guard let scale = ChartScale(c) else {
            return "<p class=\"empty\">no finite values of \(HTMLRenderer.escape(chart.metric)) to plot</p>"
        }
        let plotW = width - left - right
        let plotH = height - top - bottom
        // A labelled axis gives each label an equal slot, its points in the middle.
        let slots = Double(chart.xLabels.count)
        func px(_ step: Int64) -> Double {
            left + (slots > 0 ? (Double(step) + 0.5) / slots : scale.x(step)) * plotW
        }
        func py(_ t: Double) -> Double { top + (1 - t) * plotH }
        var svg =
            "<svg viewBox=\"0 0 \(n(width)) \(n(height))\" width=\"\(n(width))\" height=\"\(n(height))\" role=\"img\" aria-label=\"\(HTMLRenderer.escape(chart.title))\">"
        svg += "<rect x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(plotW))\" height=\"\(n(plotH))\" class=\"plot\"/>"
        for (value, label) in yTicks(scale) {
            guard let t = scale.y(value), t >= -1e-9, t <= 1 + 1e-9 else { continue }
            let y = n(py(t))
            svg += "<line x1=\"\(n(left))\" y1=\"\(y)\" x2=\"\(n(width - right))\" y2=\"\(y)\" class=\"grid\"/>"
            svg += "<text x=\"\(n(left - 6))\" y=\"\(y)\" class=\"ytick\">\(label)</text>"
        }
        for (step, label) in xTicks(chart, scale) {
            let x = n(px(step))
            svg += "<line x1=\"\(x)\" y1=\"\(n(top))\" x2=\"\(x)\" y2=\"\(n(top + plotH))\" class=\"grid\"/>"
            svg += "<text x=\"\(x)\" y=\"\(n(top + plotH + 16))\" class=\"xtick\">\(HTMLRenderer.escape(label))</text>"
        }
        svg +=
            "<line x1=\"\(n(left))\" y1=\"\(n(top + plotH))\" x2=\"\(n(width - right))\" y2=\"\(n(top + plotH))\" class=\"axis\"/>"
        svg += "<line x1=\"\(n(left))\" y1=\"\(n(top))\" x2=\"\(n(left))\" y2=\"\(n(top + plotH))\" class=\"axis\"/>"
        svg +=
            "<text x=\"\(n(left + plotW / 2))\" y=\"\(n(height - 6))\" class=\"xlabel\">\(HTMLRenderer.escape(chart.xTitle))</text>"
        let yLabel = HTMLRenderer.escape(chart.metric) + (logScale ? " (log)" : "")
        svg += "<text transform=\"translate(14 \(n(top + plotH / 2))) rotate(-90)\" class=\"ylabel\">\(yLabel)</text>"
        for (i, series) in chart.series.enumerated() where !series.band.isEmpty {
            let upper = series.band.compactMap { b in scale.y(b.high).map { "\(n(px(b.step))),\(n(py($0)))" } }
            let lower = series.band.reversed().compactMap { b in scale.y(b.low).map { "\(n(px(b.step))),\(n(py($0)))" }
            }
            guard upper.count == series.band.count, lower.count == series.band.count else { continue }
            svg +=
                "<polygon points=\"\((upper + lower).joined(separator: " "))\" fill=\"\(palette[i % palette.count])\" class=\"band\"/>"
        }
        for (i, series) in chart.series.enumerated() {
            let color = palette[i % palette.count]
            var segment: [String] = []
            func flush() {
                if segment.count == 1 {
                    let xy = segment[0].split(separator: ",")
                    svg += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"2.5\" fill=\"\(color)\"/>"
                } else if segment.count > 1 {
                    svg +=
                        "<polyline points=\"\(segment.joined(separator: " "))\" stroke=\"\(color)\"\(dash(i)) class=\"curve\"/>"
                }
                segment = []
            }
            for p in series.points {
                guard let t = scale.y(p.value) else {
                    flush()
                    continue
                }
                segment.append("\(n(px(p.step))),\(n(py(t)))")
            }
            flush()
            svg += hoverPoints(series, color: color, chart: chart) { p in
                scale.y(p.value).map { (px(p.step), py($0)) }
            }
        }
        svg += legend(chart.series.map(\.name), plotRight: width - right)
        return svg + "</svg>"
    }

    /// The most points per series that show their value on hover.
    static let maxHoverPoints = 120

    /// Points that show "name, step: value" on hover (evenly thinned, the last one always kept).
    static func hoverPoints(
        _ series: ReportChart.Series, color: String, chart: ReportChart,
        at position: (HistoryPoint) -> (Double, Double)?
    ) -> String {
        let points = series.points
        if points.isEmpty { return "" }
        let stride = max(1, (points.count + maxHoverPoints - 1) / maxHoverPoints)
        var out = "<g class=\"pts\" fill=\"\(color)\">"
        for (i, p) in points.enumerated() where i % stride == 0 || i == points.count - 1 {
            guard let (x, y) = position(p) else { continue }
            let at = chart.xLabels.indices.contains(Int(p.step)) ? chart.xLabels[Int(p.step)] : "step \(p.step)"
            let spread = series.band.first { $0.step == p.step }.map {
                " (" + formatShortest($0.low) + " to " + formatShortest($0.high) + ")"
            }
            let text = "\(series.name), \(at): \(formatShortest(p.value))\(spread ?? "")"
            out += "<circle cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"4\"><title>\(HTMLRenderer.escape(text))</title></circle>"
        }
        return out + "</g>"
    }

    /// The x axis ticks: every label of a labelled axis, else nice step values.
    static func xTicks(_ chart: ReportChart, _ scale: ChartScale) -> [(Int64, String)] {
        if !chart.xLabels.isEmpty {
            return chart.xLabels.enumerated().map { (Int64($0.offset), $0.element) }
        }
        return xTicks(scale.minStep, scale.maxStep).map { ($0, String($0)) }
    }

    /// Series past the palette's length repeat its colours dashed, so 16 curves stay apart.
    static func dash(_ i: Int) -> String { i >= palette.count ? " stroke-dasharray=\"6 3\"" : "" }

    static func legend(_ names: [String], plotRight: Double) -> String {
        if names.isEmpty { return "" }
        let longest = Double(names.map(\.count).max() ?? 0)
        let boxW = min(360, 34 + longest * 6.6)
        let rowH = 16.0
        let boxH = 8 + rowH * Double(names.count)
        let x0 = plotRight - boxW - 8
        let y0 = top + 8
        var out =
            "<g class=\"legend\"><rect x=\"\(n(x0))\" y=\"\(n(y0))\" width=\"\(n(boxW))\" height=\"\(n(boxH))\" rx=\"3\"/>"
        for (i, name) in names.enumerated() {
            let y = y0 + 4 + rowH * Double(i) + rowH / 2
            out +=
                "<line x1=\"\(n(x0 + 8))\" y1=\"\(n(y))\" x2=\"\(n(x0 + 26))\" y2=\"\(n(y))\" stroke=\"\(palette[i % palette.count])\"\(dash(i)) stroke-width=\"3\"/>"
            out += "<text x=\"\(n(x0 + 32))\" y=\"\(n(y))\">\(HTMLRenderer.escape(name))</text>"
        }
        return out + "</g>"
    }

    /// Tick values and labels covering the value range. On a log scale: 1-2-5 per decade, else
    /// every integer multiple per decade, else (a range inside one decade) evenly spaced values.
    static func yTicks(_ scale: ChartScale) -> [(Double, String)] {
        let lo = scale.value(at: 0)
        let hi = scale.value(at: 1)
        if scale.log {
            for multiples in [[1.0, 2, 5], [1.0, 2, 3, 4, 5, 6, 7, 8, 9]] {
                var ticks: [Double] = []
                var decade = pow(10, floor(log10(lo)))
                while decade <= hi * 1.0001 {
                    for m in multiples where decade * m >= lo * 0.9999 && decade * m <= hi * 1.0001 {
                        ticks.append(decade * m)
                    }
                    decade *= 10
                }
                if ticks.count >= 3 { return ticks.map { ($0, label($0)) } }
            }
        }
        let step = niceStep((hi - lo) / 6)
        var v = ceil(lo / step) * step
        var out: [(Double, String)] = []
        let digits = max(0, Int(-floor(log10(step) + 1e-9)))
        while v <= hi + step * 1e-6 {
            out.append((v, formatFixed(v, digits)))
            v += step
        }
        return out
    }

    static func label(_ v: Double) -> String {
        v >= 1 ? formatFixed(v, 0) : formatFixed(v, max(0, Int(-floor(log10(v) + 1e-9))))
    }

    static func xTicks(_ lo: Int64, _ hi: Int64) -> [Int64] {
        if hi <= lo { return [lo] }
        let step = max(1, Int64(niceStep(Double(hi - lo) / 6)))
        var v = (lo + step - 1) / step * step
        var out: [Int64] = []
        while v <= hi {
            out.append(v)
            v += step
        }
        return out
    }

    /// The 1, 2 or 5 x 10^k nearest above `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let p = pow(10, floor(log10(raw)))
        let f = raw / p
        return (f <= 1.001 ? 1 : f <= 2.001 ? 2 : f <= 5.001 ? 5 : 10) * p
    }

    /// A coordinate with at most one decimal.
    static func n(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(r)
    }
}
