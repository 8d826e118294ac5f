import Foundation
import Backbone
import RecData
import Tensor
import WeightIO

public enum Stage: String, Codable, Sendable { case pretrain, finetune }
public enum PhaseKind: String, Codable, Sendable { case content, collaborative, recommendation }

/// Sums over the micro-batches of the current phase.
struct RunningSums: Codable, Equatable {
    var lossSum = 0.0, predictions = 0, regularization = 0.0, tokens = 0, seconds = 0.0
    mutating func add(_ r: StepResult) {
        lossSum += r.lossSum; predictions += r.predictions; regularization += r.regularization; tokens += r.tokens
    }
    var meanLoss: Double { predictions > 0 ? lossSum / Double(predictions) : 0 }
}

/// Everything needed to continue a run exactly where it stopped (with the tensors of the checkpoint).
struct TrainerState: Codable {
    var stage: Stage
    var options: TrainingOptions
    var phase = 0
    var step = 0
    var phaseSeed: UInt64
    var globalStep = 0
    var accumulated = 0
    var adamSteps: [String: Int] = [:]
    var running = RunningSums()
    /// Finetuning: the best validation score and its epoch.
    var best: Double? = nil
    var bestPhase: Int? = nil
    /// Pretraining: each copy's lowest epoch objective (mean LM loss + MR per micro-batch) and its
    /// epoch, tracked separately as the reference does.
    var bestObjective: [String: Double] = [:]
    var bestObjectivePhase: [String: Int] = [:]
    var lastValidation: MetricReport? = nil
    var finished = false
    /// The processes that wrote this state (nil in checkpoints from before it was recorded): a
    /// resume with another count keeps the global batch (`keepGlobalBatch`).
    var processes: Int? = nil
}

/// How a run ended.
public enum TrainingOutcome: Sendable { case finished, interrupted }

/// Pretraining and finetuning of docs/CLLM4REC.md §5 over a recommender folder: the schedule of
/// epochs, Adam with gradient accumulation, checkpoints at the end of every epoch (and on Ctrl-C),
/// `metrics.jsonl`, and exact resumption.
public final class Trainer {
    let model: RecModel
    let corpora: Corpora
    let dataset: PreparedDataset
    let folder: RecommenderFolder
    var state: TrainerState
    let schedule: [PhaseKind]
    var adams: [String: Adam] = [:]
    var grads: [IDEmbeddings.Copy: IDGradients] = [:]
    /// The best tables so far (pretrain: collaborative + content; finetune: recommendation).
    var best: IDEmbeddings
    /// Finetuning with a trained adapter: its weights at the best validated epoch, which go with
    /// `best`'s recommendation rows (rows learned against one adapter are not the model with another).
    var bestAdapter: [Float]? = nil
    /// A learned head input's weights at the best validated epoch (they go with its rows too).
    var bestHeadProjection: [Float]? = nil
    /// The Adam state of a learned head input (`adam.m.head_input` in checkpoints).
    static let headInputAdamKey = "head_input"
    let progress = ProgressReporter()
    /// For tests: stop as if interrupted after this many micro-batches of this run.
    public var stopAfterSteps: Int? = nil
    /// The processes of a data-parallel run (`SingleProcess` by default). Each optimizer step takes
    /// `size · accumulate` micro-batches of the plan in order, shared out by tokens (`owners`); the
    /// gradients are summed over the processes and every process applies the same Adam update, so
    /// N processes with `accumulate` A compute what one process with N·A does, up to the order of
    /// float sums. Only process 0 writes files.
    public var collective: any Collective = SingleProcess()
    /// Checks after every epoch that every process holds the same parameters (a hash each).
    public var checkParameterSync = false
    /// The collective's totals when the current epoch started (metrics give each epoch's share).
    var communicationAtPhaseStart = (seconds: 0.0, bytes: 0)
    /// Optimizer steps taken in the current epoch by this run (a resumed epoch counts from the resume).
    var updatesInPhase = 0
    /// Under mpirun: table rows with a gradient, summed over the epoch's steps (how much of the
    /// whole-table allreduce a touched-rows-only exchange would send).
    var touchedRowsInPhase = 0
    public var log: (String) -> Void = { print($0) }

    var checkpointDir: String { folder.file("checkpoint-\(state.stage.rawValue)") }

    /// A new run, or with `resume` the continuation of the run whose checkpoint is in the folder.
    public init(stage: Stage, options: TrainingOptions, model: RecModel, corpora: Corpora, dataset: PreparedDataset,
                folder: RecommenderFolder, resume: Bool, extendTo: Int? = nil) throws {
        self.model = model; self.corpora = corpora; self.dataset = dataset; self.folder = folder
        state = TrainerState(stage: stage, options: options, phaseSeed: options.seed)
        // A resumed run keeps the options it started with (extended to `extendTo` epochs if given:
        // the schedule of a longer run starts with the shorter one's, with the same seeds).
        var o = resume ? try Trainer.savedState(folder.file("checkpoint-\(stage.rawValue)")).options : options
        if let extendTo { precondition(resume && stage == .finetune && extendTo >= o.epochs); o.epochs = extendTo }
        schedule = stage == .pretrain
            ? Trainer.pretrainSchedule(o) : Trainer.finetuneSchedule(o)
        best = IDEmbeddings(users: model.users, items: model.items, width: model.width, copies: [])
        if stage == .finetune && !model.embeddings.has(.recommendation) { model.embeddings.copy(.collaborative, to: .recommendation) }
        if resume { try loadCheckpoint() }
        if extendTo != nil { state.options.epochs = o.epochs }
    }

    /// Pretraining: the content-only warm-up, then rounds of a collaborative epoch, each followed by
    /// a content epoch when the round's number is a multiple of `contentEvery` (1: every round, the
    /// reference; 0: none, the content copy keeps its warm-up or initial rows).
    static func pretrainSchedule(_ o: TrainingOptions) -> [PhaseKind] {
        Array(repeating: .content, count: max(0, o.warmupEpochs)) + (0..<max(0, o.rounds)).flatMap { r -> [PhaseKind] in
            o.contentEvery > 0 && (r + 1) % o.contentEvery == 0 ? [.collaborative, .content] : [.collaborative]
        }
    }

    /// Finetuning: recommendation epochs, a content epoch after every `contentEvery`-th (0: none).
    static func finetuneSchedule(_ o: TrainingOptions) -> [PhaseKind] {
        (0..<max(0, o.epochs)).flatMap { e -> [PhaseKind] in
            o.contentEvery > 0 && (e + 1) % o.contentEvery == 0 ? [.recommendation, .content] : [.recommendation]
        }
    }

    /// The copy a phase trains and the copy its mutual regularization pulls toward (none in the
    /// content-only warm-up, as in the reference).
    func copies(_ kind: PhaseKind, phase: Int) -> (train: IDEmbeddings.Copy, other: IDEmbeddings.Copy?) {
        switch (state.stage, kind) {
        case (_, .collaborative): return (.collaborative, .content)
        case (_, .recommendation): return (.recommendation, .content)
        case (.pretrain, .content): return (.content, phase < state.options.warmupEpochs ? nil : .collaborative)
        case (.finetune, .content): return (.content, .recommendation)
        }
    }

    /// Whether this run trains the LoRA adapter (a loaded adapter without `loraRank` stays frozen).
    var trainsLoRA: Bool { state.options.loraRank > 0 && model.backbone.adapter != nil }

    func gradients(_ c: IDEmbeddings.Copy) -> IDGradients {
        if let g = grads[c] { return g }
        let g = IDGradients(model: model)
        grads[c] = g
        return g
    }

    func adam(_ key: String, count: Int) -> Adam {
        if let a = adams[key] { return a }
        let a = Adam(count: count)
        adams[key] = a
        return a
    }

    // MARK: planning

    enum MicroBatch {
        case lm([Document], Head), rec([[Int]], [[Int]])

        /// Tokens the micro-batch runs through the backbone (what its compute grows with).
        var tokens: Int {
            switch self {
            case let .lm(docs, _): return docs.reduce(0) { $0 + $1.tokens.count }
            case let .rec(prompts, _): return prompts.reduce(0) { $0 + $1.count }
            }
        }
    }

    /// Which process computes each micro-batch: within each optimizer step (`group` consecutive
    /// micro-batches), the one with the most tokens first, to the process with the fewest tokens so
    /// far (ties to the lower rank). Every process derives the same assignment from the plan, and the
    /// step's gradient is the sum over its micro-batches whoever computes them; balancing tokens
    /// keeps processes from waiting for each other at the allreduce.
    ///
    ///     owners(tokens: [9, 1, 1, 7], group: 4, processes: 2)  // [0, 1, 1, 1]: 9 tokens each
    static func owners(tokens: [Int], group: Int, processes: Int) -> [Int] {
        guard processes > 1 else { return [Int](repeating: 0, count: tokens.count) }
        var owner = [Int](repeating: 0, count: tokens.count)
        for start in stride(from: 0, to: tokens.count, by: group) {
            let step = Array(tokens[start..<min(tokens.count, start + group)])
            for (p, mine) in Parallel.deal(costs: step, workers: processes).enumerated() {
                for i in mine { owner[start + i] = p }
            }
        }
        return owner
    }

    /// The micro-batches of one phase, a pure function of the phase's seed.
    func plan(_ kind: PhaseKind, seed: UInt64) -> [MicroBatch] {
        var rng = SplitMix64(seed: seed)
        let o = state.options
        var out: [MicroBatch] = []
        /// Language-model documents, shuffled, in micro-batches of `o.batch`.
        func appendBatches(_ docs: [Document], head: Head) {
            var docs = docs
            docs.shuffle(using: &rng)
            for s in stride(from: 0, to: docs.count, by: o.batch) { out.append(.lm(Array(docs[s..<min(docs.count, s + o.batch)]), head)) }
        }
        switch kind {
        case .collaborative:
            var docs: [Document] = []
            let c = corpora.collaborative
            for k in 0..<c.count where !c.main(k).isEmpty {
                var items = c.main(k).map(Int.init)
                if o.itemOrder == .shuffle { items.shuffle(using: &rng) } else { items.sort() }
                let prompt = c.prompt(k).map(Int.init)
                docs.append(Document(tokens: prompt + items, promptLength: prompt.count))
            }
            appendBatches(docs, head: .items)
        case .content:
            var docs: [Document] = []
            for c in [corpora.reviews, corpora.itemText, corpora.userText] {
                for k in 0..<c.count where !c.main(k).isEmpty {
                    var main = c.main(k).map(Int.init)
                    if let cap = o.maxMainTokens, main.count > cap {
                        let start = Int.random(in: 0...(main.count - cap), using: &rng)
                        main = Array(main[start..<(start + cap)])
                    }
                    let prompt = c.prompt(k).map(Int.init)
                    docs.append(Document(tokens: prompt + main, promptLength: prompt.count))
                }
            }
            appendBatches(docs, head: .vocabulary)
        case .recommendation:
            var users = Array(0..<dataset.users.count).filter { !dataset.train[$0].isEmpty }
            users.shuffle(using: &rng)
            var prompts: [[Int]] = [], targets: [[Int]] = []
            for u in users {
                let items = dataset.train[u]
                let (hidden, visible) = recommendationMask(items, fraction: o.maskFraction, using: &rng)
                prompts.append(corpora.finetunePrompt(userToken: model.firstUser + u, items: visible.map { model.firstItem + $0 }))
                targets.append(o.target == .holdout ? hidden : items)
                if prompts.count == o.batch { out.append(.rec(prompts, targets)); prompts = []; targets = [] }
            }
            if !prompts.isEmpty { out.append(.rec(prompts, targets)) }
        }
        return out
    }

    // MARK: running

    public func run() throws -> TrainingOutcome {
        if let saved = state.processes { try keepGlobalBatch(savedProcesses: saved) }
        state.processes = collective.size
        try agreeOnStart()
        installInterruptHandler()
        if state.globalStep == 0 { try prepareHeadInput() }  // a new run, not a resumed one
        var stepsThisRun = 0
        let totalPhases = schedule.count
        while state.phase < totalPhases {
            let kind = schedule[state.phase]
            let (train, other) = copies(kind, phase: state.phase)
            let batches = plan(kind, seed: state.phaseSeed)
            let g = gradients(train)
            let phaseStart = Date()
            let ranks = collective.size, group = ranks * state.options.accumulate
            let owners = Trainer.owners(tokens: batches.map(\.tokens), group: group, processes: ranks)
            while state.step < batches.count {
                // Several processes stop together, at an optimizer step's boundary (where no
                // gradient is half accumulated); one process may stop anywhere.
                if ranks == 1 || state.step % group == 0 {
                    if collective.any(interruptRequested || (stopAfterSteps.map { stepsThisRun >= $0 } ?? false)) {
                        state.running.seconds += Date().timeIntervalSince(phaseStart)
                        if collective.isRoot { try saveCheckpoint() }
                        interruptRequested = false
                        return .interrupted
                    }
                }
                let dropSeed = state.options.seed &+ UInt64(state.globalStep) &* 0x9E37_79B9_7F4A_7C15
                if owners[state.step] == collective.rank {
                    let r: StepResult
                    switch batches[state.step] {
                    case let .lm(docs, head):
                        r = model.languageModelStep(docs, head: head, copy: train, other: other, lambda: state.options.lambda,
                                                    mrWholeDocument: kind == .collaborative, predictFirstMain: state.options.predictFirstMain,
                                                    headInput: kind == .collaborative && state.options.headInput != .raw ? model.headInput : nil,
                                                    dropout: state.options.dropout, seed: dropSeed, grads: g)
                    case let .rec(prompts, targets):
                        r = model.recommendationStep(prompts: prompts, targets: targets, copy: train, other: other, lambda: state.options.lambda,
                                                     dropout: state.options.dropout, seed: dropSeed, grads: g)
                    }
                    state.running.add(r)
                    stepsThisRun += 1
                }
                state.step += 1
                state.globalStep += 1
                state.accumulated += 1
                if state.step % group == 0 || state.step == batches.count { applyUpdate(train) }
                let elapsed = state.running.seconds + Date().timeIntervalSince(phaseStart)
                let fraction = (Double(state.phase) + Double(state.step) / Double(max(batches.count, 1))) / Double(totalPhases)
                if collective.isRoot {
                    progress.update(String(format: "%@ epoch %d/%d %@ step %d/%d loss %.4f mr %.3f %.0f tok/s", state.stage.rawValue,
                                           state.phase + 1, totalPhases, kind.rawValue, state.step, batches.count, state.running.meanLoss,
                                           state.running.regularization / Double(max(state.step, 1)), Double(state.running.tokens) / max(elapsed, 1e-9)),
                                    fraction: fraction)
                }
            }
            state.running.seconds += Date().timeIntervalSince(phaseStart)
            try finishPhase(kind)
        }
        state.finished = true
        if collective.isRoot { try writeResults() }
        return .finished
    }

    /// The head input of a new finetuning run (`HeadInputKind`): raw drops any conditioning;
    /// standardized and whitened keep the one a recommendation copy was already finetuned with (of
    /// the same kind), or measure it on the first prompts of a training plan (no dropout, no gradient):
    /// `TrainingOptions.headInputPrompts` for the per-channel statistics,
    /// `TrainingOptions.whiteningPrompts` for the correlation matrix. Under mpirun process 0
    /// measures and every process takes its numbers, so all hold the same bits.
    ///
    /// Pretraining (raw or standardized only): raw leaves the folder's head input as it is (a
    /// recommendation copy's, unused by the collaborative head); standardized keeps the folder's
    /// standardization or measures it on the first `TrainingOptions.headInputDocuments` collaborative
    /// documents of a plan, at every row the item head predicts from. Finetuning then keeps it: the
    /// recommendation copy starts as the collaborative one, whose rows were learned against it.
    func prepareHeadInput() throws {
        let e = model.embeddings
        let kind = state.options.headInput
        let pretraining = state.stage == .pretrain
        if pretraining && (kind == .whitened || kind == .learned) {
            throw CLLM4RecError.invalidArgument("--head-input \(kind.rawValue): pretraining's collaborative head takes raw or standardized")
        }
        guard kind != .raw else { if !pretraining { e.headInput = nil }; return }
        if let kept = e.headInput {
            guard kept.kind == kind else {
                throw CLLM4RecError.invalidArgument("--head-input \(kind.rawValue): this folder's item rows were trained with a \(kept.kind.rawValue) head input and belong to it (to change it, start again from a folder without one: made by extend-vocab, or pretrained with a raw head input)")
            }
            if collective.isRoot { progress.note("head input: \(kind.rawValue), the one this folder's item rows were trained with") }
            return
        }
        let started = Date()
        let w = model.width
        var values = [Float](repeating: 0, count: 2 * w + (kind == .whitened ? w * w : 0))
        var measuredOn = ""
        if pretraining {
            var docs: [Document] = []
            for case let .lm(d, _) in plan(.collaborative, seed: state.options.seed ^ 0x4845_4144) { docs += d }
            docs = Array(docs.prefix(TrainingOptions.headInputDocuments))
            measuredOn = "\(docs.count) collaborative documents"
            if collective.isRoot {
                let m = model.measureItemHeadInput(documents: docs, copy: .collaborative, predictFirstMain: state.options.predictFirstMain)
                values = m.mean + m.scale
            }
        } else {
            let wanted = kind == .whitened ? TrainingOptions.whiteningPrompts : TrainingOptions.headInputPrompts
            var prompts: [[Int]] = []
            for case let .rec(p, _) in plan(.recommendation, seed: state.options.seed ^ 0x4845_4144) { prompts += p }
            prompts = Array(prompts.prefix(wanted))
            measuredOn = "\(prompts.count) training prompts"
            if collective.isRoot {
                let m = kind == .whitened ? try model.measureWhitenedHeadInput(prompts: prompts, copy: .recommendation)
                                          : model.measureHeadInput(prompts: prompts, copy: .recommendation)
                values = m.mean + m.scale + (m.whitening ?? [])
            }
        }
        values.withUnsafeMutableBufferPointer { collective.sum($0.baseAddress!, count: $0.count) }
        var projection: HeadInputProjection? = nil
        if kind == .learned {
            // Every process draws the same start from the run's seed.
            projection = HeadInputProjection(rank: HeadInputProjection.defaultRank, width: w)
            var g = SplitMix64(seed: state.options.seed ^ 0x5052_4F4A)
            projection!.initialize(using: &g)
        }
        e.headInput = HeadInputStandardization(mean: Array(values[..<w]), scale: Array(values[w..<(2 * w)]),
                                               whitening: kind == .whitened ? Array(values[(2 * w)...]) : nil, projection: projection)
        if collective.isRoot {
            let s = e.headInput!.scale.sorted()
            progress.note(String(format: "head input: %@ with the statistics of h over %@ (%.1f s); scale median %.3g, max %.3g",
                                 kind.rawValue, measuredOn, Date().timeIntervalSince(started), s[s.count / 2], s.last ?? 0))
        }
    }

    /// Adam on the trained copy's tables (and LoRA) with the mean of the accumulated gradients
    /// (`accumulated` counts the step's micro-batches over all processes, whose gradients are summed
    /// first).
    func applyUpdate(_ copy: IDEmbeddings.Copy) {
        guard state.accumulated > 0 else { return }
        let g = gradients(copy), lr = state.options.learningRate, s = 1 / Float(state.accumulated)
        let e = model.embeddings
        if collective.isDistributed {
            collective.sum(g.users.pointer.baseAddress!, count: g.users.count)
            collective.sum(g.items.pointer.baseAddress!, count: g.items.count)
            if trainsLoRA, let lora = model.backbone.adapter { collective.sum(lora.gradients.pointer.baseAddress!, count: lora.gradients.count) }
            for table in [g.users.pointer, g.items.pointer] {
                for r in 0..<(table.count / e.width) where table[(r * e.width)..<((r + 1) * e.width)].contains(where: { $0 != 0 }) {
                    touchedRowsInPhase += 1
                }
            }
        }
        adam("user.\(copy.rawValue)", count: e.users * e.width).update(e.user(copy), grad: g.users.pointer.baseAddress!, lr: lr, gradScale: s)
        adam("item.\(copy.rawValue)", count: e.items * e.width).update(e.item(copy), grad: g.items.pointer.baseAddress!, lr: lr, gradScale: s)
        if copy == .recommendation, let p = e.headInput?.projection {
            if collective.isDistributed { collective.sum(p.gradients.pointer.baseAddress!, count: p.gradients.count) }
            adam(Trainer.headInputAdamKey, count: p.weights.count).update(p.weights.pointer.baseAddress!, grad: p.gradients.pointer.baseAddress!,
                                                                          lr: lr, gradScale: s)
            p.gradients.pointer.update(repeating: 0)
        }
        if trainsLoRA, let lora = model.backbone.adapter {
            adam("lora", count: lora.weights.count).update(lora.weights.pointer.baseAddress!, grad: lora.gradients.pointer.baseAddress!,
                                                           lr: state.options.adapterLearningRate ?? lr, gradScale: s)
        }
        model.backbone.adapter?.zeroGradients()
        g.zero()
        state.accumulated = 0
        updatesInPhase += 1
    }

    func finishPhase(_ kind: PhaseKind) throws {
        let o = state.options
        if collective.isDistributed {
            // Every process's share of the epoch's sums, so that all log and select the same.
            let r = state.running
            let total = collective.sum([r.lossSum, Double(r.predictions), r.regularization, Double(r.tokens)])
            state.running.lossSum = total[0]; state.running.predictions = Int(total[1])
            state.running.regularization = total[2]; state.running.tokens = Int(total[3])
            if checkParameterSync { try checkSync() }
        }
        var line: [String: Any] = [
            "stage": state.stage.rawValue, "epoch": state.phase + 1, "kind": kind.rawValue,
            "loss": state.running.meanLoss, "mr": state.running.regularization, "predictions": state.running.predictions,
            "tokens": state.running.tokens, "seconds": state.running.seconds,
            "tokens_per_s": Double(state.running.tokens) / max(state.running.seconds, 1e-9),
        ]
        line["optimizer_steps"] = updatesInPhase
        updatesInPhase = 0
        if collective.isDistributed {
            line["processes"] = collective.size
            line["allreduce_seconds"] = collective.communicationSeconds - communicationAtPhaseStart.seconds
            line["allreduce_bytes"] = collective.communicatedBytes - communicationAtPhaseStart.bytes
            line["touched_rows"] = touchedRowsInPhase
            line["table_rows"] = model.users + model.items
            touchedRowsInPhase = 0
            communicationAtPhaseStart = (collective.communicationSeconds, collective.communicatedBytes)
        }
        var summary = String(format: "%@ epoch %d/%d %@: loss %.4f, mr %.2f, %d tokens in %.0f s (%.0f tok/s)", state.stage.rawValue,
                             state.phase + 1, schedule.count, kind.rawValue, state.running.meanLoss, state.running.regularization,
                             state.running.tokens, state.running.seconds, Double(state.running.tokens) / max(state.running.seconds, 1e-9))
        switch (state.stage, kind) {
        case (.finetune, .recommendation) where validationDue:
            // One prompt order for every validation of the run, so epochs differ only by the model.
            let report = Evaluator(batch: o.evaluationBatch).evaluate(model: model, corpora: corpora, dataset: dataset,
                                                                      relevant: dataset.validation, copy: .recommendation, seed: o.seed,
                                                                      collective: collective)
            state.lastValidation = report
            for (k, v) in report.values { line["val_" + k] = v }
            summary += String(format: "; validation R@20 %.4f R@40 %.4f N@100 %.4f; popularity overlap %.2f, head-input rank %.1f",
                              report.values["recall@20"] ?? 0, report.values["recall@40"] ?? 0, report.values["ndcg@100"] ?? 0,
                              report.values[CollapseDiagnostic.overlapKey] ?? 0, report.values[CollapseDiagnostic.rankKey] ?? 0)
            if state.best.map({ report.selectionScore > $0 }) ?? true {
                state.best = report.selectionScore
                state.bestPhase = state.phase
                // The content copy of the best epoch goes with it (reviews of the kept model).
                best.copy(from: model.embeddings, .recommendation)
                best.copy(from: model.embeddings, .content)
                if trainsLoRA, let lora = model.backbone.adapter { bestAdapter = Array(lora.weights.pointer) }
                if let p = model.embeddings.headInput?.projection { bestHeadProjection = Array(p.weights.pointer) }
                summary += " (best)"
            }
        case (.pretrain, _):
            // Each copy is kept at the epoch of its own lowest objective, the loss it backpropagates:
            // mean LM loss + MR per micro-batch (the warm-up epochs count for the content copy).
            let objective = state.running.meanLoss + state.running.regularization / Double(max(state.step, 1))
            line["objective"] = objective
            let c = copies(kind, phase: state.phase).train
            if state.bestObjective[c.rawValue].map({ objective < $0 }) ?? true {
                state.bestObjective[c.rawValue] = objective
                state.bestObjectivePhase[c.rawValue] = state.phase
                best.copy(from: model.embeddings, c)
                summary += String(format: " (best %@, objective %.4f)", c.rawValue, objective)
            }
        default: break
        }
        // The next phase's randomness follows from this one's, so a resumed run repeats it.
        var rng = SplitMix64(seed: state.phaseSeed)
        _ = rng.next()
        state.phaseSeed = rng.next()
        state.phase += 1
        state.step = 0
        state.running = RunningSums()
        guard collective.isRoot else { return }
        try saveCheckpoint()
        try appendMetrics(line)
        progress.note(summary)
    }

    /// Stops the run when the processes' parameters differ (they never should: every process
    /// applies the same update to the same sums).
    func checkSync() throws {
        let hashes = collective.gather(parameterHashNow() >> 11)
        guard Set(hashes).count == 1 else {
            throw CLLM4RecError.invalidFile(folder.path, "processes hold different parameters after epoch \(state.phase + 1): hashes \(hashes)")
        }
        if collective.isRoot { progress.note("parameters equal on all \(collective.size) processes (hash \(String(hashes[0], radix: 16)))") }
    }

    /// Whether this recommendation epoch is validated (every `validateEvery`-th, and the last one).
    var validationDue: Bool {
        let recEpoch = schedule[...state.phase].filter { $0 == .recommendation }.count
        let last = !schedule[(state.phase + 1)...].contains(.recommendation)
        return last || state.options.validateEvery <= 1 || recEpoch % state.options.validateEvery == 0
    }

    func appendMetrics(_ line: [String: Any]) throws {
        let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        let path = folder.file("metrics.jsonl")
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw CLLM4RecError.invalidFile(path, "cannot append") }
        h.seekToEndOfFile()
        h.write(data + Data("\n".utf8))
        try h.close()
    }
}

extension Array {
    func repeated(_ n: Int) -> [Element] { (0..<Swift.max(0, n)).flatMap { _ in self } }
}

extension IDEmbeddings {
    /// Copies `source`'s tables of `c` into this one's.
    func copy(from source: IDEmbeddings, _ c: Copy) { copy(from: source, c, to: c) }
}

/// The recommendation objective's split of a user's items (training and fold-in alike): a shuffled
/// `fraction` of them (at least one) hidden as the targets, the rest shown in the prompt.
func recommendationMask(_ items: [Int], fraction: Double, using rng: inout SplitMix64) -> (hidden: [Int], visible: [Int]) {
    var order = items
    order.shuffle(using: &rng)
    let hide = max(1, Int(Double(order.count) * fraction))
    return (Array(order.prefix(hide)), Array(order.dropFirst(hide)))
}
