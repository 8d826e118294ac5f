/// Column names of a plain interaction table.
public struct CSVColumns: Sendable {
    public var user = "user_id", item = "item_id"
    public var rating: String? = "rating", timestamp: String? = "timestamp", text: String? = nil
    public init(user: String = "user_id", item: String = "item_id", rating: String? = "rating", timestamp: String? = "timestamp", text: String? = nil) {
        self.user = user; self.item = item; self.rating = rating; self.timestamp = timestamp; self.text = text
    }
}

/// Splits CSV/TSV text into records (RFC 4180: fields in double quotes may hold the delimiter,
/// line breaks and "" for a quote). Returns each record with the line it starts on.
func csvRecords(_ bytes: [UInt8], delimiter: UInt8, file: String) throws -> [(line: Int, fields: [String])] {
    var records: [(Int, [String])] = []
    var fields: [String] = []
    var field: [UInt8] = []
    var line = 1, recordLine = 1
    var i = 0
    let n = bytes.count
    var inQuotes = false, quoted = false, any = false
    func endField() { fields.append(String(decoding: field, as: UTF8.self)); field = []; quoted = false }
    while i < n {
        let c = bytes[i]
        if inQuotes {
            if c == 0x22 {
                if i + 1 < n && bytes[i + 1] == 0x22 { field.append(0x22); i += 2; continue }
                inQuotes = false
            } else {
                if c == 0x0A { line += 1 }
                field.append(c)
            }
            i += 1
            continue
        }
        switch c {
        case 0x22 where field.isEmpty && !quoted:
            inQuotes = true; quoted = true; any = true
        case delimiter:
            endField(); any = true
        case 0x0A, 0x0D:
            if c == 0x0D && i + 1 < n && bytes[i + 1] == 0x0A { i += 1 }
            if any || !field.isEmpty { endField(); records.append((recordLine, fields)) }
            fields = []; any = false
            line += 1
            recordLine = line
        default:
            if quoted { throw RecDataError.row(file: file, line: line, field: nil, problem: "text after a closing quote") }
            field.append(c); any = true
        }
        i += 1
    }
    if inQuotes { throw RecDataError.row(file: file, line: recordLine, field: nil, problem: "quoted field is never closed") }
    if any || !field.isEmpty { endField(); records.append((recordLine, fields)) }
    return records
}

extension RawDataset {
    /// A CSV or TSV interaction table with a header row; `columns` names the columns to use.
    public static func csv(path: String, columns: CSVColumns, delimiter: Character? = nil) throws -> RawDataset {
        let text = try TextFile(path: path)
        let delim = delimiter ?? (path.hasSuffix(".tsv") || path.hasSuffix(".tsv.gz") ? "\t" : ",")
        guard let d = delim.asciiValue else { throw RecDataError.io(file: path, problem: "the delimiter must be one ASCII character") }
        let records = try csvRecords(text.bytes, delimiter: d, file: path)
        guard let header = records.first else { throw RecDataError.header(file: path, problem: "is missing (empty file)") }
        func column(_ name: String?, required: Bool) throws -> Int? {
            guard let name else { return nil }
            guard let k = header.fields.firstIndex(of: name) else {
                if required || name != CSVColumns().rating && name != CSVColumns().timestamp {
                    throw RecDataError.header(file: path, problem: "has no column \"\(name)\" (columns: \(header.fields.joined(separator: ", ")))")
                }
                return nil
            }
            return k
        }
        let u = try column(columns.user, required: true)!, it = try column(columns.item, required: true)!
        let r = try column(columns.rating, required: false), t = try column(columns.timestamp, required: false)
        let x = try column(columns.text, required: false)
        var ds = RawDataset(name: ((path as NSString).lastPathComponent as NSString).deletingPathExtension, format: "csv")
        ds.sources.append(path)
        for rec in records.dropFirst() {
            guard rec.fields.count == header.fields.count else {
                throw RecDataError.row(file: path, line: rec.line, field: nil, problem: "has \(rec.fields.count) fields, the header has \(header.fields.count)")
            }
            func number(_ k: Int?) throws -> Double? {
                guard let k, !rec.fields[k].isEmpty else { return nil }
                guard let v = Double(rec.fields[k].trimmingCharacters(in: .whitespaces)), v.isFinite else {
                    throw RecDataError.row(file: path, line: rec.line, field: header.fields[k], problem: "\"\(rec.fields[k])\" is not a number")
                }
                return v
            }
            guard !rec.fields[u].isEmpty, !rec.fields[it].isEmpty else {
                throw RecDataError.row(file: path, line: rec.line, field: header.fields[rec.fields[u].isEmpty ? u : it], problem: "is empty")
            }
            ds.interactions.append(RawInteraction(user: rec.fields[u], item: rec.fields[it], rating: try number(r), timestamp: try number(t),
                                                  text: x.map { rec.fields[$0] }))
        }
        return ds
    }
}

import Foundation
