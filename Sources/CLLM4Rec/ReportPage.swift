import Foundation

/// One self-contained HTML page of a `RunReport`: inline SVG line charts (loss per epoch for each
/// stage, validation Recall and NDCG with the baselines as horizontal lines, the collapse
/// diagnostic), the evaluations as tables. No script, no style sheet or font from elsewhere: the
/// page opens offline and prints as it shows.
public enum ReportPage {
    /// A line of a chart: its points (x, y), or a horizontal reference line when `level` is set.
    public struct Series {
        public var name: String
        public var points: [(Double, Double)]
        public var level: Double? = nil
        public var color: String
        public var dashed = false
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

    public static func html(_ r: RunReport) -> String {
        var body = "<h1>\(escape(r.title))</h1>\n<p class=\"sub\">\(escape(r.folder))</p>\n"
        body += "<table class=\"settings\">" + r.settings.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined() + "</table>\n"
        for stage in ["pretrain", "finetune"] {
            let kinds = r.epochs.filter { $0.stage == stage }.map(\.kind).uniqued()
            guard !kinds.isEmpty else { continue }
            let series = kinds.enumerated().map { k, kind in
                Series(name: kind, points: r.epochs.filter { $0.stage == stage && $0.kind == kind }.map { (Double($0.epochOfKind), $0.loss) },
                       color: palette[k % palette.count])
            }
            body += section("\(stage == "pretrain" ? "Pretraining" : "Finetuning"): training loss per epoch",
                            chart(series, xLabel: "epoch (of each kind)", yLabel: "mean loss"))
        }
        let validated = r.epochs.filter { !$0.validation.isEmpty }
        if !validated.isEmpty {
            let metrics = ["recall@20", "recall@40", "ndcg@100"].filter { m in validated.contains { $0.validation[m] != nil } }
            var series: [Series] = []
            for (k, m) in metrics.enumerated() {
                let color = palette[k % palette.count]
                series.append(Series(name: "cllm4rec \(m)", points: validated.compactMap { e in e.validation[m].map { (Double(e.epochOfKind), $0) } }, color: color))
                for (b, baseline) in r.validationBaselines.enumerated() {
                    if let v = baseline.metrics[m] {
                        series.append(Series(name: "\(baseline.name) \(m)", points: [], level: v, color: color, dashed: b == 1 ? false : true))
                    }
                }
            }
            body += section("Validation: Recall and NDCG per epoch",
                            chart(series, xLabel: "recommendation epoch", yLabel: "metric", horizontalStyle: "baseline")
                            + "<p class=\"note\">Solid lines with points: this model. Horizontal lines in the metric's colour: the baselines on the same validation split (dashed: most popular; thin solid: EASE).</p>")
            let overlap = validated.compactMap { e in e.validation[CollapseDiagnostic.overlapKey].map { (Double(e.epochOfKind), $0) } }
            let rank = validated.compactMap { e in e.validation[CollapseDiagnostic.rankKey].map { (Double(e.epochOfKind), $0) } }
            if !overlap.isEmpty {
                body += section("Collapse diagnostic: overlap with the most-popular top 20",
                                chart([Series(name: "popularity overlap@20", points: overlap, color: palette[1]),
                                       Series(name: "most popular itself", points: [], level: 1, color: "#555555", dashed: true)],
                                      xLabel: "recommendation epoch", yLabel: "share of the top 20", yFromZero: true)
                                + "<p class=\"note\">The mean share of each user's top 20 that is also in the most-popular top 20 of the items the user has not seen. Near 1: every user gets the same, popularity-like list.</p>")
            }
            if !rank.isEmpty {
                body += section("Collapse diagnostic: effective rank of the head's inputs",
                                chart([Series(name: "head-input effective rank", points: rank, color: palette[2])],
                                      xLabel: "recommendation epoch", yLabel: "participation ratio", yFromZero: true)
                                + "<p class=\"note\">How many directions the users' inputs to the item head differ in ((Σλ)² / Σλ² of their covariance). A handful: the head can only tell users apart along a handful of directions.</p>")
            }
        }
        if !r.evaluations.isEmpty {
            let columns = ["recall@20", "recall@40", "ndcg@100", CollapseDiagnostic.overlapKey, CollapseDiagnostic.rankKey]
            var table = "<table class=\"results\"><tr><th>split</th><th>model</th>" + columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
            for e in r.evaluations {
                table += "<tr><td>\(escape(e.split))</td><td>\(escape(e.name))</td>"
                    + columns.map { c in "<td>\(e.metrics[c].map { String(format: c == CollapseDiagnostic.rankKey ? "%.1f" : "%.4f", $0) } ?? "")</td>" }.joined() + "</tr>"
            }
            body += section("Evaluations (cllm4rec evaluate)", table + "</table>")
        }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(r.title)): cllm4rec report</title>
            <style>
            body { font-family: sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
            h1 { margin-bottom: 0; } .sub { color: #666; margin-top: 0.2em; }
            h2 { font-size: 1.1em; margin-top: 2em; }
            table { border-collapse: collapse; margin: 0.5em 0; } th, td { padding: 0.2em 0.8em; text-align: left; border-bottom: 1px solid #ddd; }
            .results td { font-variant-numeric: tabular-nums; } .note { color: #555; font-size: 0.9em; max-width: 50em; }
            svg text { font-family: sans-serif; font-size: 12px; fill: #333; }
            </style></head>
            <body>
            \(body)
            </body></html>

            """
    }

    static func section(_ title: String, _ content: String) -> String {
        "<section><h2>\(escape(title))</h2>\n\(content)\n</section>\n"
    }

    /// An SVG line chart with axes, ticks and a legend.
    public static func chart(_ series: [Series], xLabel: String, yLabel: String, horizontalStyle: String = "",
                             yFromZero: Bool = false, width: Double = 720, height: Double = 320) -> String {
        let left = 64.0, right = 16.0, top = 16.0, bottom = 44.0
        let legendHeight = 18.0 * Double(series.count)
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = series.flatMap { $0.points.map(\.0) }
        var ys = series.flatMap { $0.points.map(\.1) } + series.compactMap(\.level)
        if yFromZero { ys.append(0) }
        guard let x0 = xs.min(), let x1 = xs.max(), let yMin = ys.min(), let yMax = ys.max() else { return "<p>(no data)</p>" }
        let (xa, xb) = x0 == x1 ? (x0 - 1, x1 + 1) : (x0, x1)
        let pad = (yMax - yMin) * 0.06
        let (ya, yb) = yMin == yMax ? (yMin - 1, yMax + 1) : (yFromZero && yMin >= 0 ? 0 : yMin - pad, yMax + pad)
        func px(_ x: Double) -> Double { left + (x - xa) / (xb - xa) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (y - ya) / (yb - ya)) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height + legendHeight))\" viewBox=\"0 0 \(Int(width)) \(Int(height + legendHeight))\" role=\"img\" aria-label=\"\(escape(yLabel)) by \(escape(xLabel))\">"
        svg += "<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height + legendHeight))\" fill=\"#ffffff\"/>"
        for t in ticks(ya, yb) {
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(py(t)))\" y2=\"\(f(py(t)))\" stroke=\"#e5e5e5\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(py(t) + 4))\" text-anchor=\"end\">\(tickLabel(t))</text>"
        }
        for t in ticks(xa, xb, integer: true) {
            svg += "<text x=\"\(f(px(t)))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\">\(tickLabel(t))</text>"
        }
        svg += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#999\"/>"
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + plotH + 34))\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        svg += "<text transform=\"translate(14 \(f(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>"
        for s in series {
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            if let level = s.level {
                svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + plotW))\" y1=\"\(f(py(level)))\" y2=\"\(f(py(level)))\" stroke=\"\(s.color)\" stroke-width=\"1.2\"\(dash) opacity=\"0.8\"><title>\(escape(s.name)): \(String(format: "%.4f", level))</title></line>"
            } else if !s.points.isEmpty {
                let path = s.points.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ")
                svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)/>"
                for p in s.points {
                    svg += "<circle cx=\"\(f(px(p.0)))\" cy=\"\(f(py(p.1)))\" r=\"3\" fill=\"\(s.color)\"><title>\(escape(s.name)) at \(tickLabel(p.0)): \(String(format: "%.4f", p.1))</title></circle>"
                }
            }
        }
        for (k, s) in series.enumerated() {
            let y = height + 18.0 * Double(k) + 4
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(left + 28))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"\(s.color)\" stroke-width=\"\(s.level == nil ? 2 : 1.2)\"\(dash)/>"
            let value = s.level.map { String(format: " (%.4f)", $0) } ?? s.points.last.map { String(format: " (last %.4f)", $0.1) } ?? ""
            svg += "<text x=\"\(f(left + 36))\" y=\"\(f(y + 4))\">\(escape(s.name + value))</text>"
        }
        return svg + "</svg>"
    }

    /// About five round tick values covering [a, b].
    static func ticks(_ a: Double, _ b: Double, integer: Bool = false) -> [Double] {
        let span = b - a
        guard span > 0, span.isFinite else { return [a] }
        let raw = span / 5
        let magnitude = pow(10, floor(log10(raw)))
        var step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        if integer { step = max(1, step.rounded()) }
        var out: [Double] = []
        var t = (a / step).rounded(.up) * step
        while t <= b + step * 1e-9 { out.append(t); t += step }
        return out
    }

    static func tickLabel(_ v: Double) -> String {
        if v == v.rounded() && abs(v) < 1e9 { return String(Int(v)) }
        return String(format: abs(v) < 0.1 ? "%.3f" : "%.2f", v)
    }

    /// Text for HTML content and attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
