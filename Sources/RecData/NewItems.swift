import Foundation

/// Items to add to a trained recommender (`cllm4rec add-items`): an id and a text each, with the
/// line each came from for the error messages.
public struct NewItem: Equatable, Sendable {
    public var id: String
    public var text: String
    public var line: Int
    public init(id: String, text: String, line: Int) { self.id = id; self.text = text; self.line = line }
}

/// The file formats of new items.
public enum NewItemsFormat: String, CaseIterable, Sendable {
    /// A header row, then one item a row: an id column and a text column (`--item-column`, `--text-column`).
    case csv
    /// A RecBole `.item` file: the text composed from its fields as for a dataset's items.
    case recbole
    /// Amazon metadata lines (`asin`, `title`, `brand`, `categories`, `description`), JSON or Python literals.
    case amazon
}

extension NewItem {
    /// Reads new items from `path`. Every item needs a non-empty id and a non-empty text, and an id
    /// appears once; a violation names the file, line and field.
    public static func read(path: String, format: NewItemsFormat, idColumn: String = "item_id", textColumn: String = "text",
                            delimiter: Character? = nil) throws -> [NewItem] {
        var out: [NewItem] = []
        switch format {
        case .csv:
            let file = try TextFile(path: path)
            let delim = delimiter ?? (path.hasSuffix(".tsv") || path.hasSuffix(".tsv.gz") ? "\t" : ",")
            guard let d = delim.asciiValue else { throw RecDataError.io(file: path, problem: "the delimiter must be one ASCII character") }
            let records = try csvRecords(file.bytes, delimiter: d, file: path)
            guard let header = records.first else { throw RecDataError.header(file: path, problem: "is missing (empty file)") }
            guard let i = header.fields.firstIndex(of: idColumn), let t = header.fields.firstIndex(of: textColumn) else {
                throw RecDataError.header(file: path, problem: "needs the columns \"\(idColumn)\" and \"\(textColumn)\" (columns: \(header.fields.joined(separator: ", ")))")
            }
            for rec in records.dropFirst() {
                guard rec.fields.count == header.fields.count else {
                    throw RecDataError.row(file: path, line: rec.line, field: nil, problem: "has \(rec.fields.count) fields, the header has \(header.fields.count)")
                }
                out.append(NewItem(id: rec.fields[i], text: rec.fields[t], line: rec.line))
            }
        case .recbole:
            let table = try AtomicTable(path: path)
            guard let id = table.index(of: "item_id") else { throw RecDataError.header(file: path, problem: "needs an item_id field") }
            let names = table.fields.map(\.name)
            for (row, line) in zip(table.rows, table.lines) {
                out.append(NewItem(id: row[id], text: describeItem(fields: names, values: row, idField: id), line: line))
            }
        case .amazon:
            let file = try TextFile(path: path)
            try file.forEachLine { number, line in
                if line.allSatisfy(\.isWhitespace) { return }
                let obj = try parseObject(line, file: path, line: number)
                guard case let .string(asin)? = obj["asin"] else {
                    throw RecDataError.row(file: path, line: number, field: "asin", problem: "is missing")
                }
                out.append(NewItem(id: asin, text: describeProduct(obj), line: number))
            }
        }
        var first: [ExactString: Int] = [:]
        for item in out {
            let field = format == .amazon ? "asin" : format == .recbole ? "item_id" : idColumn
            guard !item.id.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw RecDataError.row(file: path, line: item.line, field: field, problem: "is empty")
            }
            guard !item.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw RecDataError.row(file: path, line: item.line, field: format == .csv ? textColumn : nil,
                                       problem: "item \"\(item.id)\" has no text: a new item is known by its text alone")
            }
            if let earlier = first[ExactString(item.id)] {
                throw RecDataError.row(file: path, line: item.line, field: field, problem: "item \"\(item.id)\" is already on line \(earlier)")
            }
            first[ExactString(item.id)] = item.line
        }
        guard !out.isEmpty else { throw RecDataError.empty("\(path): no item to add") }
        return out
    }
}
