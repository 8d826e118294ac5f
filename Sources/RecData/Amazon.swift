import WeightIO

extension RawDataset {
    /// Amazon review files as published (2014 and 2018 releases; `.json` or `.json.gz`, one object a
    /// line): `reviewerID`, `asin`, `overall`, `reviewText`, `summary`, `unixReviewTime`; with the
    /// metadata file (`title`, `brand`, `categories`/`category`, `description`), in JSON or the 2014
    /// files' Python-literal style.
    public static func amazon(reviews: String, metadata: String?) throws -> RawDataset {
        let name = ((reviews as NSString).lastPathComponent as NSString).deletingPathExtension.replacingOccurrences(of: ".json", with: "")
        var d = RawDataset(name: name, format: "amazon")
        d.sources.append(reviews)
        let file = try TextFile(path: reviews)
        try file.forEachLine { lineNo, line in
            if line.allSatisfy(\.isWhitespace) { return }
            let obj = try parseObject(line, file: reviews, line: lineNo)
            func string(_ key: String, required: Bool) throws -> String? {
                switch obj[key] {
                case let .string(s)?: return s
                case let .number(n)?: return n
                case nil, .null?:
                    if required { throw RecDataError.row(file: reviews, line: lineNo, field: key, problem: "is missing") }
                    return nil
                default: throw RecDataError.row(file: reviews, line: lineNo, field: key, problem: "must be a string")
                }
            }
            func numeric(_ key: String) throws -> Double? {
                switch obj[key] {
                case let .number(n)?:
                    guard let v = Double(n), v.isFinite else { throw RecDataError.row(file: reviews, line: lineNo, field: key, problem: "\"\(n)\" is not a number") }
                    return v
                case let .string(s)?:
                    guard let v = Double(s), v.isFinite else { throw RecDataError.row(file: reviews, line: lineNo, field: key, problem: "\"\(s)\" is not a number") }
                    return v
                case nil, .null?: return nil
                default: throw RecDataError.row(file: reviews, line: lineNo, field: key, problem: "must be a number")
                }
            }
            let user = try string("reviewerID", required: true)!
            let item = try string("asin", required: true)!
            let rating = try numeric("overall")
            let time = try numeric("unixReviewTime")
            let text = try string("reviewText", required: false) ?? string("summary", required: false)
            d.interactions.append(RawInteraction(user: user, item: item, rating: rating, timestamp: time, text: text))
        }
        if let metadata {
            d.sources.append(metadata)
            let meta = try TextFile(path: metadata)
            try meta.forEachLine { number, line in
                if line.allSatisfy(\.isWhitespace) { return }
                let obj = try parseObject(line, file: metadata, line: number)
                guard case let .string(asin)? = obj["asin"] else {
                    throw RecDataError.row(file: metadata, line: number, field: "asin", problem: "is missing")
                }
                d.itemText[ExactString(asin)] = describeProduct(obj)
            }
        }
        return d
    }
}

/// One line as a JSON object (strict JSON first, then Python-literal style).
func parseObject(_ line: Substring, file: String, line number: Int) throws -> JSONValue {
    let json: JSONValue
    if let v = try? JSONParser.parse(Array(line.utf8)) {
        json = v
    } else {
        switch PythonLiteral.parse(line) {
        case let .success(v): json = v
        case let .failure(e):
            // Report the strict JSON error when the line looks like JSON: it is the more precise one.
            var problem = e.problem
            if line.first == "{" && line.dropFirst().first == "\"" {
                do { _ = try JSONParser.parse(Array(line.utf8)) } catch { problem = "\(error.problem) (JSON)"; return try fail(file, number, error.offset, problem) }
            }
            return try fail(file, number, e.offset, problem)
        }
    }
    guard case .object = json else { throw RecDataError.row(file: file, line: number, field: nil, problem: "is not an object") }
    return json
}

private func fail(_ file: String, _ line: Int, _ offset: Int, _ problem: String) throws -> JSONValue {
    throw RecDataError.row(file: file, line: line, field: nil, problem: "invalid record at byte \(offset + 1): \(problem)")
}

/// "Girls Ballet Tutu. Brand: Coxlists. Categories: Sports & Outdoors, Other Sports, Dance. Description."
func describeProduct(_ obj: JSONValue) -> String {
    func strings(_ v: JSONValue?) -> [String] {
        switch v {
        case let .string(s)?: return [s]
        case let .array(a)?: return a.flatMap { strings($0) }
        default: return []
        }
    }
    var parts: [String] = []
    if let t = strings(obj["title"]).first, !t.isEmpty { parts.append(t) }
    if let b = strings(obj["brand"]).first, !b.isEmpty { parts.append("Brand: \(b)") }
    var cats: [String] = []
    for c in strings(obj["categories"]) + strings(obj["category"]) where !cats.contains(c) { cats.append(c) }
    if !cats.isEmpty { parts.append("Categories: " + cats.joined(separator: ", ")) }
    let desc = strings(obj["description"]).joined(separator: " ").trimmingCharacters(in: .whitespacesAndNewlines)
    if !desc.isEmpty { parts.append(desc) }
    return parts.map { $0.hasSuffix(".") ? String($0.dropLast()) : $0 }.joined(separator: ". ") + (parts.isEmpty ? "" : ".")
}

import Foundation
