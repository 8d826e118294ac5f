import Foundation
import WeightIO

/// A split made elsewhere, or ours for others: RecBole's benchmark files (`benchmark_filename`
/// convention), `NAME.train.inter`, `NAME.valid.inter` and `NAME.test.inter`, one interaction per
/// line with `user_id:token` and `item_id:token` (other fields allowed).
public enum BenchmarkSplit {
    /// RecBole's file suffix of each part.
    public static func suffix(_ part: SplitPart) -> String {
        switch part {
        case .train: return "train"
        case .validation: return "valid"
        case .test: return "test"
        }
    }

    /// The three files of the split in `dir`: `NAME.train.inter` decides NAME (exactly one such file).
    public static func files(in dir: String) throws -> [SplitPart: String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".train.inter") }.sorted()
        guard names.count == 1 else {
            throw RecDataError.io(file: dir, problem: names.isEmpty
                ? "no NAME.train.inter file (RecBole benchmark files: NAME.train.inter, NAME.valid.inter, NAME.test.inter)"
                : "several NAME.train.inter files: \(names.joined(separator: ", "))")
        }
        let base = String(names[0].dropLast(".train.inter".count))
        var out: [SplitPart: String] = [:]
        for part in SplitPart.allCases {
            let path = (dir as NSString).appendingPathComponent("\(base).\(suffix(part)).inter")
            guard FileManager.default.fileExists(atPath: path) else { throw RecDataError.io(file: path, problem: "missing (the split needs all three parts)") }
            out[part] = path
        }
        return out
    }
}

extension BenchmarkSplit {
    /// `NAME.cold-valid.inter` and `NAME.cold-test.inter` next to `NAME.train.inter`, when both exist.
    static func coldFiles(in dir: String, train: String) -> (validation: String, test: String)? {
        let base = String(train.dropLast(".train.inter".count))
        let v = base + ".cold-valid.inter", t = base + ".cold-test.inter"
        return FileManager.default.fileExists(atPath: v) && FileManager.default.fileExists(atPath: t) ? (v, t) : nil
    }
}

extension PreparedDataset {
    /// The split in RecBole benchmark files in `splitDir`, used as is: no rating filter, no k-core,
    /// no random hold-out. `raw` (the dataset's own files) gives item and user text and, for pairs
    /// it has, the timestamps that order each user's items (file order otherwise). Users are
    /// numbered in shuffled order (seeded) and items as first met, as for a split made here.
    /// A pair in two parts, or twice in one, is an error naming both lines.
    public init(raw: RawDataset, splitFrom splitDir: String, options: PrepareOptions) throws {
        var options = options
        options.minRating = nil
        options.kcore = 0
        options.splitFrom = (splitDir as NSString).standardizingPath
        var time: [ExactString: Double] = [:]
        for x in raw.interactions {
            let key = ExactString(x.user + "\u{1F}" + x.item)
            if time[key] == nil, let t = x.timestamp { time[key] = t }
        }
        var seen: [ExactString: String] = [:]  // pair -> "file:line"
        var byUser: [ExactString: [(time: Double, order: Int, x: UserInteraction)]] = [:]
        var userOrder: [String] = []
        var stats = DatasetStatistics()
        var order = 0
        let files = try BenchmarkSplit.files(in: splitDir)
        // Cold items' files (written by --export-split of a folder with cold items): their pairs are
        // read into validation or test, then diverted whole by `holdingOutColdItems`.
        let coldFiles = BenchmarkSplit.coldFiles(in: splitDir, train: files[.train]!)
        var coldItemIds: [SplitPart: Set<ExactString>] = [:]
        for (part, path) in [(SplitPart.train, files[.train]!), (.validation, files[.validation]!), (.test, files[.test]!)]
            + (coldFiles.map { [(SplitPart.validation, $0.validation), (.test, $0.test)] } ?? []) {
            let isCold = coldFiles.map { path == $0.validation || path == $0.test } ?? false
            let table = try AtomicTable(path: path)
            guard let u = table.index(of: "user_id"), let i = table.index(of: "item_id") else {
                throw RecDataError.header(file: path, problem: "needs user_id and item_id fields")
            }
            for (row, line) in zip(table.rows, table.lines) {
                let key = ExactString(row[u] + "\u{1F}" + row[i])
                if let first = seen[key] {
                    throw RecDataError.row(file: path, line: line, field: nil,
                                           problem: "user \"\(row[u])\" and item \"\(row[i])\" are already at \(first): a pair belongs to one part once")
                }
                seen[key] = "\(path):\(line)"
                if isCold { coldItemIds[part, default: []].insert(ExactString(row[i])) }
                let user = ExactString(row[u])
                if byUser[user] == nil { userOrder.append(row[u]) }
                byUser[user, default: []].append((time[key] ?? 0, order, UserInteraction(item: row[i], text: nil, part: part)))
                order += 1
            }
        }
        stats.rawInteractions = order
        guard order > 0 else { throw RecDataError.empty("\(splitDir): the split files hold no interaction") }
        let histories = userOrder.map { u in byUser[ExactString(u)]!.sorted { ($0.time, $0.order) < ($1.time, $1.order) }.map(\.x) }
        var rawText = raw
        rawText.sources += SplitPart.allCases.map { files[$0]! } + (coldFiles.map { [$0.validation, $0.test] } ?? [])
        try self.init(name: raw.name, userOrder: userOrder, histories: histories, raw: rawText, options: options, statistics: stats)
        if let coldFiles {
            let index = Dictionary(uniqueKeysWithValues: items.enumerated().map { (ExactString($1), $0) })
            let validationItems = (coldItemIds[.validation] ?? []).compactMap { index[$0] }, testItems = (coldItemIds[.test] ?? []).compactMap { index[$0] }
            guard Set(validationItems).isDisjoint(with: testItems) else {
                throw RecDataError.io(file: coldFiles.test, problem: "an item is in both \(coldFiles.validation) and this file: a cold item belongs to one half")
            }
            self = holdingOutColdItems(validationItems: validationItems, testItems: testItems,
                                       fraction: Double(validationItems.count + testItems.count) / Double(items.count), seed: options.seed)
        }
    }

    /// Writes the split as RecBole benchmark files `NAME.train.inter`, `NAME.valid.inter`,
    /// `NAME.test.inter` into `dir` (all or nothing), with each pair's rating and timestamp from
    /// `raw` when it has them, so that another tool is measured on the identical split. Held-out
    /// users, when there are any, go to `NAME.heldout-foldin.inter` and `NAME.heldout-test.inter`;
    /// cold items' interactions (`ColdItems`) to `NAME.cold-valid.inter` and `NAME.cold-test.inter`
    /// (the three main files then hold none of them).
    public func exportSplit(to dir: String, raw: RawDataset) throws {
        var first: [ExactString: RawInteraction] = [:]
        for x in raw.interactions {
            let key = ExactString(x.user + "\u{1F}" + x.item)
            if first[key] == nil { first[key] = x }
        }
        let hasRating = raw.interactions.contains { $0.rating != nil }, hasTime = raw.interactions.contains { $0.timestamp != nil }
        func number(_ v: Double?) -> String {
            guard let v else { return "" }
            return v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
        }
        func file(_ lists: [[Int]], users ids: [String]) -> [UInt8] {
            var out = "user_id:token\titem_id:token" + (hasRating ? "\trating:float" : "") + (hasTime ? "\ttimestamp:float" : "") + "\n"
            for (u, list) in lists.enumerated() {
                for j in list {
                    let x = first[ExactString(ids[u] + "\u{1F}" + items[j])]
                    out += ids[u] + "\t" + items[j]
                    if hasRating { out += "\t" + number(x?.rating) }
                    if hasTime { out += "\t" + number(x?.timestamp) }
                    out += "\n"
                }
            }
            return Array(out.utf8)
        }
        for id in users + heldout.users + items where id.contains(where: { $0 == "\t" || $0 == "\n" || $0 == "\r" }) {
            throw RecDataError.io(file: dir, problem: "id \"\(id)\" holds a tab or line break, which RecBole atomic files cannot carry")
        }
        let folder = try StagedFolder(dir)
        try folder.write("\(name).train.inter", bytes: file(train, users: users))
        try folder.write("\(name).valid.inter", bytes: file(validation, users: users))
        try folder.write("\(name).test.inter", bytes: file(test, users: users))
        if !heldout.users.isEmpty {
            try folder.write("\(name).heldout-foldin.inter", bytes: file(heldout.foldIn, users: heldout.users))
            try folder.write("\(name).heldout-test.inter", bytes: file(heldout.test, users: heldout.users))
        }
        if let cold {
            try folder.write("\(name).cold-valid.inter", bytes: file(cold.validation, users: users))
            try folder.write("\(name).cold-test.inter", bytes: file(cold.test, users: users))
        }
        try folder.commit()
    }
}
