/// The interaction formats `extend-vocab` reads.
public enum DatasetFormat: String, CaseIterable, Sendable {
    /// A RecBole atomic-file folder (NAME.inter, optional NAME.item / NAME.user) or one .inter file.
    case recbole
    /// Amazon reviews (JSON lines, optionally gzipped), with an optional metadata file.
    case amazon
    /// A CSV or TSV file with named columns.
    case csv

    /// The format a path's suffix says: .json(l)[.gz] Amazon, .csv/.tsv[.gz] CSV, anything else RecBole.
    public static func detect(_ path: String) -> DatasetFormat {
        let p = path.lowercased()
        if [".json", ".json.gz", ".jsonl", ".jsonl.gz"].contains(where: p.hasSuffix) { return .amazon }
        if [".csv", ".tsv", ".csv.gz", ".tsv.gz"].contains(where: p.hasSuffix) { return .csv }
        return .recbole
    }
}

extension RawDataset {
    /// Reads `path` in `format` (`metadata`: Amazon's item file; `columns` and `delimiter`: CSV's).
    public static func read(_ path: String, format: DatasetFormat, metadata: String? = nil, columns: CSVColumns = CSVColumns(),
                            delimiter: Character? = nil) throws -> RawDataset {
        switch format {
        case .amazon: return try amazon(reviews: path, metadata: metadata)
        case .csv: return try csv(path: path, columns: columns, delimiter: delimiter)
        case .recbole: return try recBole(path: path)
        }
    }
}
