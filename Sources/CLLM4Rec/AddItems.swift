import Backbone
import Foundation
import RecData
import Tensor
import Tokenizer
import WeightIO

/// How `add-items` makes the rows of new items.
public struct AddItemsOptions: Sendable {
    /// Passes of language modelling over the new items' texts that fit their content rows
    /// (everything else frozen, the backbone without its adapter, as in pretraining).
    public var contentEpochs = 5
    public var contentLearningRate: Float = 1e-3
    /// Documents per step.
    public var batch = 8
    /// The rule for the collaborative and recommendation rows (see `ColdRowRule`; `trained` keeps
    /// the new rows as initialised).
    public var rule: ColdRowRule = .textTFIDFMap
    public var ridge = 1.0
    public var seed: UInt64 = 98765
    public init() {}
}

/// What `add-items` did, for the printed summary.
public struct AddItemsReport: Sendable {
    public var added = 0
    public var itemsBefore = 0
    /// Mean content loss per predicted token in the first and the last epoch.
    public var firstContentLoss = 0.0, lastContentLoss = 0.0
    public var contentSeconds = 0.0, textSeconds = 0.0, seconds = 0.0
    /// Items with a training interaction, on which the rule's map was fitted.
    public var warmItems = 0
}

extension LoadedRecommender {
    /// Adds `newItems` to the folder as one commit: their tokens after the existing items (no
    /// existing token, row or score changes), their item-text documents, content rows fitted on
    /// their text, and collaborative and recommendation rows by `options.rule`. An id the folder
    /// knows already is refused with its line, and nothing is written. `file` names the source in
    /// messages.
    public func addItems(_ newItems: [NewItem], file: String, options: AddItemsOptions = AddItemsOptions(),
                         progress: ((String) -> Void)? = nil) throws -> AddItemsReport {
        let started = Date()
        var report = AddItemsReport()
        let j0 = dataset.items.count, n = newItems.count, c = model.width, users = dataset.users.count
        report.itemsBefore = j0; report.added = n
        var known: [ExactString: Int] = [:]
        for (j, id) in dataset.items.enumerated() { known[ExactString(id)] = j }
        for item in newItems where known[ExactString(item.id)] != nil {
            throw RecommenderError("\(file):\(item.line): item \"\(item.id)\" is already in \(folder.path); nothing was added")
        }
        let j1 = j0 + n
        let tok = IDTokenizer(base: tokenizer.base, users: users, items: j1)
        let newCorpora = corpora.addingItemTexts(newItems.enumerated().map { (j0 + $0.offset, $0.element.text) }, tokenizer: tok)
        var newDataset = dataset
        newDataset.items += newItems.map(\.id)
        newDataset.itemText += newItems.map { Optional($0.text) }
        newDataset.statistics.items = j1
        newDataset.statistics.addedItems = (dataset.statistics.addedItems ?? 0) + n

        // The tables grown: every copy's old rows as they are, new rows initialised as extend-vocab does.
        let copies = IDEmbeddings.Copy.allCases.filter { model.embeddings.has($0) }
        let grown = IDEmbeddings(users: users, items: j1, width: c, copies: copies)
        grown.headInput = model.embeddings.headInput
        let wordRows = UnsafeBufferPointer(start: model.backbone.tokenEmbeddings, count: model.backbone.vocabSize * c)
        let (fresh, _) = initialEmbeddings(users: users, items: j1, width: c, seed: options.seed, rows: manifest.idRows ?? .normal,
                                           textMean: manifest.initialization == "text-mean", wordRows: wordRows, corpora: newCorpora)
        for copy in copies {
            grown.user(copy).update(from: model.embeddings.user(copy), count: users * c)
            grown.item(copy).update(from: model.embeddings.item(copy), count: j0 * c)
            let source = copy == .content ? fresh.item(.content) : fresh.item(.collaborative)
            (grown.item(copy) + j0 * c).update(from: source + j0 * c, count: n * c)
        }
        let adapter = model.backbone.adapter
        model.backbone.adapter = nil
        defer { model.backbone.adapter = adapter }
        let m = RecModel(backbone: model.backbone, embeddings: grown)

        // Content rows: language modelling on the new items' texts, only their rows trained.
        let t0 = Date()
        let docs: [Document] = (0..<newCorpora.itemText.count).compactMap { k in
            let j = Int(newCorpora.itemText.items[k])
            guard j >= j0 else { return nil }
            let p = newCorpora.itemText.prompt(k).map(Int.init), main = newCorpora.itemText.main(k).map(Int.init)
            return Document(tokens: p + main, promptLength: p.count)
        }
        let grads = IDGradients(model: m)
        let adam = Adam(count: n * c)
        var rng = SplitMix64(seed: options.seed)
        for epoch in 0..<options.contentEpochs {
            var order = Array(docs.indices)
            order.shuffle(using: &rng)
            var loss = 0.0, predictions = 0
            for start in stride(from: 0, to: order.count, by: options.batch) {
                let batch = order[start..<min(order.count, start + options.batch)].map { docs[$0] }
                grads.zero()
                let r = m.languageModelStep(batch, head: .vocabulary, copy: .content, other: nil, lambda: 0, mrWholeDocument: true,
                                            dropout: false, seed: 0, grads: grads)
                loss += r.lossSum; predictions += r.predictions
                adam.update(grown.item(.content) + j0 * c, grad: grads.items.pointer.baseAddress! + j0 * c, lr: options.contentLearningRate)
            }
            let mean = loss / Double(max(1, predictions))
            if epoch == 0 { report.firstContentLoss = mean }
            report.lastContentLoss = mean
            progress?("content rows: epoch \(epoch + 1)/\(options.contentEpochs), loss \(String(format: "%.4f", mean))")
        }
        report.contentSeconds = Date().timeIntervalSince(t0)

        // Collaborative and recommendation rows by the rule, mapped from the warm items.
        let warm = dataset.itemsWithTrainingInteractions()
        report.warmItems = warm.count
        var features: ItemFeatures? = nil
        if options.rule.needsTextEmbeddings {
            let t1 = Date()
            progress?("reading \(j1) item texts with the backbone")
            features = ItemTextEmbeddings.compute(backbone: m.backbone, tokens: ItemTextEmbeddings.tokens(corpora: newCorpora, items: j1))
            report.textSeconds = Date().timeIntervalSince(t1)
        }
        let added = Array(j0..<j1)
        for copy in copies where copy != .content {
            try m.setColdRows(added, warmItems: warm, rule: options.rule, copy: copy, ridge: options.ridge, textFeatures: features,
                              itemTexts: newDataset.itemText)
        }

        // One commit: the folder as a whole is either the old one or the new one.
        var newManifest = manifest
        newManifest.items = j1
        let staged = try StagedFolder(folder.path)
        try newDataset.write(to: staged, manifest: datasetManifest, corpora: newCorpora)
        try grown.save(to: staged.path("embeddings.safetensors"))
        try staged.write("recommender.json", bytes: try newManifest.encoded())
        try staged.commit()
        report.seconds = Date().timeIntervalSince(started)
        return report
    }
}
