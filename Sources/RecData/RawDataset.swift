/// One user-item interaction as read from a file, before any filtering.
public struct RawInteraction: Equatable, Sendable {
    public var user: String
    public var item: String
    public var rating: Double?
    public var timestamp: Double?
    /// Review text, when the format has it.
    public var text: String?

    public init(user: String, item: String, rating: Double? = nil, timestamp: Double? = nil, text: String? = nil) {
        self.user = user; self.item = item; self.rating = rating; self.timestamp = timestamp; self.text = text
    }
}

/// Everything read from a dataset's files: interactions in file order, and free text describing
/// items and users (title, year, genres, brand, categories, description; age, gender, occupation).
public struct RawDataset: Sendable {
    public var name: String
    public var format: String
    public var interactions: [RawInteraction] = []
    /// Descriptions by item and user id (ids matched byte for byte).
    public var itemText: [ExactString: String] = [:]
    public var userText: [ExactString: String] = [:]
    /// Files read, for the fingerprint.
    public var sources: [String] = []
    /// Whether the ratings are explicit (a rating filter applies) or all interactions are positive.
    public var hasRatings: Bool { interactions.contains { $0.rating != nil } }

    public init(name: String, format: String) { self.name = name; self.format = format }
}
