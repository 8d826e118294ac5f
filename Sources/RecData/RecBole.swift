/// RecBole atomic files: `NAME.inter`, `NAME.item`, `NAME.user`, tab-separated, a header of
/// `field:type` (token, token_seq, float, float_seq), LF or CRLF, `token_seq` values space-separated.
public struct AtomicTable {
    public enum FieldType: String { case token, token_seq, float, float_seq }
    public var file: String
    public var fields: [(name: String, type: FieldType)]
    /// Row values, one string per field; `lines[k]` is row k's line number.
    public var rows: [[String]]
    public var lines: [Int]

    public func index(of name: String) -> Int? { fields.firstIndex { $0.name == name } }

    public init(path: String) throws {
        file = path
        fields = []; rows = []; lines = []
        let text = try TextFile(path: path)
        var headerSeen = false
        try text.forEachLine { number, line in
            if !headerSeen {
                headerSeen = true
                for part in line.split(separator: "\t", omittingEmptySubsequences: false) {
                    let pieces = part.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                    guard pieces.count == 2, !pieces[0].isEmpty, let type = FieldType(rawValue: String(pieces[1])) else {
                        throw RecDataError.header(file: path, problem: "entry \"\(part)\" is not name:type with type token, token_seq, float or float_seq")
                    }
                    guard !fields.contains(where: { $0.name == String(pieces[0]) }) else {
                        throw RecDataError.header(file: path, problem: "field \"\(pieces[0])\" appears twice")
                    }
                    fields.append((String(pieces[0]), type))
                }
                return
            }
            if line.isEmpty { return }
            let values = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard values.count == fields.count else {
                throw RecDataError.row(file: path, line: number, field: nil,
                                       problem: "has \(values.count) tab-separated fields, the header has \(fields.count)")
            }
            for (k, f) in fields.enumerated() where f.type == .float || f.type == .float_seq {
                let parts = f.type == .float ? [Substring(values[k])] : values[k].split(separator: " ")
                for p in parts where !p.isEmpty {
                    guard let d = Double(p), d.isFinite else {
                        throw RecDataError.row(file: path, line: number, field: f.name, problem: "\"\(p)\" is not a number")
                    }
                }
            }
            rows.append(values)
            lines.append(number)
        }
        guard headerSeen else { throw RecDataError.header(file: path, problem: "is missing (empty file)") }
    }
}

extension RawDataset {
    /// Reads `DIR/NAME.inter` (+ `.item`, `.user` when present), or the `.inter` file given.
    public static func recBole(path: String) throws -> RawDataset {
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        let inter: String
        if isDir.boolValue {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            let found = files.filter { $0.hasSuffix(".inter") }.sorted()
            guard found.count == 1 else {
                throw RecDataError.io(file: path, problem: found.isEmpty ? "no .inter file in this folder" : "several .inter files: \(found.joined(separator: ", ")); name one")
            }
            inter = (path as NSString).appendingPathComponent(found[0])
        } else {
            inter = path
        }
        let base = String(inter.dropLast(".inter".count))
        let name = (base as NSString).lastPathComponent
        var d = RawDataset(name: name, format: "recbole")
        let table = try AtomicTable(path: inter)
        d.sources.append(inter)
        guard let u = table.index(of: "user_id"), let i = table.index(of: "item_id") else {
            throw RecDataError.header(file: inter, problem: "needs user_id and item_id fields")
        }
        let r = table.index(of: "rating"), t = table.index(of: "timestamp")
        d.interactions.reserveCapacity(table.rows.count)
        for row in table.rows {
            d.interactions.append(RawInteraction(user: row[u], item: row[i], rating: r.flatMap { Double(row[$0]) },
                                                 timestamp: t.flatMap { Double(row[$0]) }))
        }
        if FileManager.default.fileExists(atPath: base + ".item") {
            let items = try AtomicTable(path: base + ".item")
            d.sources.append(base + ".item")
            guard let id = items.index(of: "item_id") else { throw RecDataError.header(file: base + ".item", problem: "needs an item_id field") }
            for row in items.rows { d.itemText[ExactString(row[id])] = describeItem(fields: items.fields.map(\.name), values: row, idField: id) }
        }
        if FileManager.default.fileExists(atPath: base + ".user") {
            let users = try AtomicTable(path: base + ".user")
            d.sources.append(base + ".user")
            guard let id = users.index(of: "user_id") else { throw RecDataError.header(file: base + ".user", problem: "needs a user_id field") }
            for row in users.rows { d.userText[ExactString(row[id])] = describeUser(fields: users.fields.map(\.name), values: row, idField: id) }
        }
        return d
    }
}

/// "Toy Story (1995). Genres: Animation, Children's, Comedy." from RecBole item fields: a title
/// field, a year field, genre-like fields (class, genre, categories), then any other field as
/// "name: value".
func describeItem(fields: [String], values: [String], idField: Int) -> String {
    var title = "", year = "", genres: [String] = [], rest: [String] = []
    for (k, f) in fields.enumerated() where k != idField && !values[k].isEmpty {
        let v = values[k]
        let lower = f.lowercased()
        if lower.contains("title") || lower == "name" { title = v }
        else if lower.contains("year") { year = v }
        else if lower == "class" || lower.contains("genre") || lower.contains("categor") { genres += v.split(separator: " ").map(String.init) }
        else { rest.append("\(f.replacingOccurrences(of: "_", with: " ")): \(v)") }
    }
    var s = title
    if !year.isEmpty { s += s.isEmpty ? year : " (\(year))" }
    var parts = s.isEmpty ? [] : [s]
    if !genres.isEmpty { parts.append("Genres: " + genres.joined(separator: ", ")) }
    parts += rest
    return parts.joined(separator: ". ") + (parts.isEmpty ? "" : ".")
}

/// "A 24-year-old male technician." from age, gender and occupation fields; other fields (except
/// zip codes and ids) follow as "name: value".
func describeUser(fields: [String], values: [String], idField: Int) -> String {
    var age = "", gender = "", occupation = "", rest: [String] = []
    for (k, f) in fields.enumerated() where k != idField && !values[k].isEmpty {
        let v = values[k]
        switch f.lowercased() {
        case "age": age = v
        case "gender", "sex": gender = ["M": "male", "F": "female"][v] ?? v
        case "occupation", "job": occupation = v
        case let x where x.contains("zip"): continue
        default: rest.append("\(f.replacingOccurrences(of: "_", with: " ")): \(v)")
        }
    }
    var words: [String] = []
    if !age.isEmpty { words.append("\(age)-year-old") }
    if !gender.isEmpty { words.append(gender) }
    words.append(occupation.isEmpty ? "user" : occupation)
    // "an 8-", "an 18-", "an 11-year-old", "an 80-"; "a 24-year-old".
    let first = words.first ?? ""
    let vowel = "aeiou8".contains(first.first.map { $0.lowercased() } ?? "x") || ["11-", "18-"].contains(where: first.hasPrefix)
    let article = vowel ? "An" : "A"
    return ([article + " " + words.joined(separator: " ")] + rest).joined(separator: ". ") + "."
}

import Foundation
