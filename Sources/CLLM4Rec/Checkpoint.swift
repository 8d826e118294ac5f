import Foundation
import Backbone
import Tensor
import WeightIO

extension Trainer {
    /// Writes `checkpoint-<stage>/checkpoint.safetensors` with one atomic rename: the embeddings, the
    /// best tables, Adam's moments, the gradient accumulators, LoRA, and (as JSON in the metadata)
    /// the position in the schedule with the random state of the current epoch. One file, so a crash
    /// can never pair the tensors of one epoch with the state of another.
    func saveCheckpoint() throws {
        var tensors: [(name: String, tensor: FloatTensor)] = []
        func add(_ name: String, _ p: UnsafeMutablePointer<Float>, _ shape: [Int]) {
            tensors.append((name, FloatTensor(shape: shape, values: Array(UnsafeBufferPointer(start: p, count: shape.reduce(1, *))))))
        }
        let e = model.embeddings
        for c in IDEmbeddings.Copy.allCases {
            if e.has(c) { add("emb.user.\(c.rawValue)", e.user(c), [e.users, e.width]); add("emb.item.\(c.rawValue)", e.item(c), [e.items, e.width]) }
            if best.has(c) { add("best.user.\(c.rawValue)", best.user(c), [e.users, e.width]); add("best.item.\(c.rawValue)", best.item(c), [e.items, e.width]) }
            if let g = grads[c] {
                add("grad.user.\(c.rawValue)", g.users.pointer.baseAddress!, [e.users, e.width])
                add("grad.item.\(c.rawValue)", g.items.pointer.baseAddress!, [e.items, e.width])
            }
        }
        if let h = e.headInput {
            tensors.append((IDEmbeddings.headInputMeanName, FloatTensor(shape: [e.width], values: h.mean)))
            tensors.append((IDEmbeddings.headInputScaleName, FloatTensor(shape: [e.width], values: h.scale)))
            if let w = h.whitening { tensors.append((IDEmbeddings.headInputWhiteningName, FloatTensor(shape: [e.width, e.width], values: w))) }
            if let p = h.projection {
                tensors.append((IDEmbeddings.headInputDownName, FloatTensor(shape: [p.rank, e.width], values: p.downValues)))
                tensors.append((IDEmbeddings.headInputUpName, FloatTensor(shape: [e.width, p.rank], values: p.upValues)))
                add("grad.head_input", p.gradients.pointer.baseAddress!, [p.gradients.count])
                if let b = bestHeadProjection { tensors.append(("best.head_input", FloatTensor(shape: [b.count], values: b))) }
            }
        }
        for (key, a) in adams {
            add("adam.m.\(key)", a.m.pointer.baseAddress!, [a.count])
            add("adam.v.\(key)", a.v.pointer.baseAddress!, [a.count])
            state.adamSteps[key] = a.step
        }
        if trainsLoRA, let lora = model.backbone.adapter {
            add("lora.weights", lora.weights.pointer.baseAddress!, [lora.weights.count])
            add("lora.grad", lora.gradients.pointer.baseAddress!, [lora.gradients.count])
            if let b = bestAdapter { tensors.append(("best.lora", FloatTensor(shape: [b.count], values: b))) }
        }
        try FileManager.default.createDirectory(atPath: checkpointDir, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let json = String(decoding: try enc.encode(state), as: UTF8.self)
        try SafeTensorsWriter.write(tensors, metadata: ["format": "cllm4rec-checkpoint", "state": json],
                                    to: checkpointDir + "/checkpoint.safetensors")
    }

    /// The options a stopped run started with (a resumed run keeps them), or nil without a checkpoint.
    public static func savedOptions(folder: RecommenderFolder, stage: Stage) -> TrainingOptions? {
        try? savedState(folder.file("checkpoint-\(stage.rawValue)")).options
    }

    /// The saved state of a run (read before the schedule is built, since it carries the options).
    static func savedState(_ dir: String) throws -> TrainerState {
        let path = dir + "/checkpoint.safetensors"
        guard FileManager.default.fileExists(atPath: path) else { throw CLLM4RecError.invalidFile(path, "no checkpoint to resume from") }
        let file = try SafeTensorsFile(path: path)
        guard let json = file.metadata?["state"] else { throw CLLM4RecError.invalidFile(path, "has no training state in its metadata") }
        do { return try JSONDecoder().decode(TrainerState.self, from: Data(json.utf8)) } catch {
            throw CLLM4RecError.invalidFile(path, "invalid checkpoint state: \(error)")
        }
    }

    /// Restores the run: every tensor of the checkpoint must be one this run has, with exactly the
    /// number of values of its live buffer (a corrupt or foreign file is a typed error, never a
    /// write out of bounds); every tensor the run needs to continue must be there.
    func loadCheckpoint() throws {
        let saved = try Trainer.savedState(checkpointDir)
        guard saved.stage == state.stage else { throw CLLM4RecError.invalidFile(checkpointDir, "is a \(saved.stage.rawValue) checkpoint") }
        state = saved
        let path = checkpointDir + "/checkpoint.safetensors"
        let file = try SafeTensorsSource(path: path)
        let e = model.embeddings
        // A catalog grown since (add-items): the saved item tables are shorter than the folder's.
        if let h = file.tensorHeaders.first(where: { $0.name == "emb.item.collaborative" }),
           h.count != e.items * e.width, h.count % e.width == 0 {
            throw CLLM4RecError.invalidFile(path, "was saved with \(h.count / e.width) items and the folder now has \(e.items) (added with add-items?): it cannot be resumed; start a new run without --resume")
        }
        func bad(_ name: String, _ why: String) -> CLLM4RecError { .invalidFile(path, "tensor \"\(name)\" \(why)") }
        func into(_ name: String, _ count: Int, _ p: UnsafeMutablePointer<Float>) throws {
            guard let h = file.tensorHeaders.first(where: { $0.name == name }) else { throw bad(name, "is missing") }
            guard h.count == count else { throw bad(name, "has \(h.count) values; this run's tensor has \(count)") }
            try file.read(name, into: UnsafeMutableBufferPointer(start: p, count: count))
        }
        /// The live buffer of a tensor name, or nil for a name this run does not have.
        func target(_ name: String) throws -> (count: Int, pointer: UnsafeMutablePointer<Float>)? {
            let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            switch parts.first {
            case "emb", "best", "grad":
                guard parts.count == 3, ["user", "item"].contains(parts[1]), let c = IDEmbeddings.Copy(rawValue: parts[2]) else { return nil }
                let isUser = parts[1] == "user"
                let count = (isUser ? e.users : e.items) * e.width
                switch parts[0] {
                case "emb": e.add(c); return (count, isUser ? e.user(c) : e.item(c))
                case "best": best.add(c); return (count, isUser ? best.user(c) : best.item(c))
                default:
                    let g = gradients(c)
                    return (count, (isUser ? g.users : g.items).pointer.baseAddress!)
                }
            case "adam":
                // adam.m.user.collaborative, adam.v.lora, ...
                guard parts.count >= 3, parts[1] == "m" || parts[1] == "v" else { return nil }
                let key = parts.dropFirst(2).joined(separator: ".")
                let count: Int
                if key == "lora" {
                    guard trainsLoRA, let lora = model.backbone.adapter else { throw bad(name, "is LoRA state, but this run trains no adapter") }
                    count = lora.weights.count
                } else if key == Trainer.headInputAdamKey {
                    // The head input is read after the loop: its size comes from the file's tensors.
                    guard let d = file.tensorHeaders.first(where: { $0.name == IDEmbeddings.headInputDownName }) else {
                        throw bad(name, "is the state of a learned head input, but the checkpoint has none")
                    }
                    count = 2 * d.count
                } else {
                    let k = key.split(separator: ".").map(String.init)
                    guard k.count == 2, ["user", "item"].contains(k[0]), IDEmbeddings.Copy(rawValue: k[1]) != nil else { return nil }
                    count = (k[0] == "user" ? e.users : e.items) * e.width
                }
                let a = adam(key, count: count)
                a.step = state.adamSteps[key] ?? 0
                return (count, parts[1] == "m" ? a.m.pointer.baseAddress! : a.v.pointer.baseAddress!)
            case "lora":
                guard parts.count == 2, parts[1] == "weights" || parts[1] == "grad" else { return nil }
                guard trainsLoRA, let lora = model.backbone.adapter else { throw bad(name, "is LoRA state, but this run trains no adapter") }
                return (lora.weights.count, parts[1] == "weights" ? lora.weights.pointer.baseAddress! : lora.gradients.pointer.baseAddress!)
            default:
                return nil
            }
        }
        var headMean: [Float]? = nil, headScale: [Float]? = nil, headWhitening: [Float]? = nil
        var headDown: [Float]? = nil, headUp: [Float]? = nil, headRank = 0, headGradient: [Float]? = nil
        for h in file.tensorHeaders {
            if [IDEmbeddings.headInputDownName, IDEmbeddings.headInputUpName, "grad.head_input", "best.head_input"].contains(h.name) {
                guard h.count > 0, h.count % e.width == 0 else { throw bad(h.name, "has \(h.count) values, not a multiple of the width \(e.width)") }
                var v = [Float](repeating: 0, count: h.count)
                try v.withUnsafeMutableBufferPointer { try into(h.name, h.count, $0.baseAddress!) }
                switch h.name {
                case IDEmbeddings.headInputDownName: headDown = v; headRank = h.count / e.width
                case IDEmbeddings.headInputUpName: headUp = v
                case "grad.head_input": headGradient = v
                default: bestHeadProjection = v
                }
                continue
            }
            if h.name == IDEmbeddings.headInputWhiteningName {
                var v = [Float](repeating: 0, count: e.width * e.width)
                try v.withUnsafeMutableBufferPointer { try into(h.name, e.width * e.width, $0.baseAddress!) }
                headWhitening = v
                continue
            }
            if h.name == "best.lora" {
                guard trainsLoRA, let lora = model.backbone.adapter else { throw bad(h.name, "is LoRA state, but this run trains no adapter") }
                var v = [Float](repeating: 0, count: lora.weights.count)
                try v.withUnsafeMutableBufferPointer { try into(h.name, lora.weights.count, $0.baseAddress!) }
                bestAdapter = v
                continue
            }
            if h.name == IDEmbeddings.headInputMeanName || h.name == IDEmbeddings.headInputScaleName {
                var v = [Float](repeating: 0, count: e.width)
                try v.withUnsafeMutableBufferPointer { try into(h.name, e.width, $0.baseAddress!) }
                if h.name == IDEmbeddings.headInputMeanName { headMean = v } else { headScale = v }
                continue
            }
            guard let (count, p) = try target(h.name) else { throw bad(h.name, "is not part of a cllm4rec checkpoint") }
            try into(h.name, count, p)
        }
        do {
            e.headInput = try HeadInputStandardization.stored(mean: headMean, scale: headScale, whitening: headWhitening,
                                                              projection: (headDown, headUp, headRank))
        } catch {
            throw CLLM4RecError.invalidFile(path, error.description)
        }
        if let p = e.headInput?.projection {
            for (name, v) in [("grad.head_input", headGradient), ("best.head_input", bestHeadProjection)] where v != nil && v!.count != p.weights.count {
                throw bad(name, "has \(v!.count) values; the head input's projection has \(p.weights.count)")
            }
            if let g = headGradient { p.gradients.pointer.baseAddress!.update(from: g, count: g.count) }
        } else if headGradient != nil || bestHeadProjection != nil {
            throw bad(headGradient != nil ? "grad.head_input" : "best.head_input", "belongs to a learned head input, but the checkpoint has none")
        }
        for key in state.adamSteps.keys {
            for moment in ["m", "v"] where !file.tensorHeaders.contains(where: { $0.name == "adam.\(moment).\(key)" }) {
                throw bad("adam.\(moment).\(key)", "is missing (the state lists an optimizer for \(key))")
            }
        }
        if trainsLoRA && !file.tensorHeaders.contains(where: { $0.name == "lora.weights" }) {
            throw bad("lora.weights", "is missing (this run trains an adapter)")
        }
    }

    /// The products of a finished stage: `embeddings.safetensors` (pretrain: the best collaborative
    /// and content tables; finetune: the best recommendation table with the others as trained),
    /// `training-<stage>.json`, and `adapter/` with LoRA.
    func writeResults() throws {
        let e = model.embeddings
        let out = IDEmbeddings(users: e.users, items: e.items, width: e.width, copies: [])
        for c in IDEmbeddings.Copy.allCases where e.has(c) {
            out.copy(from: best.has(c) ? best : e, c)
        }
        // Fixed for the whole run (the best epoch's too), except a learned projection: the best epoch's.
        out.headInput = e.headInput?.snapshot()
        if let b = bestHeadProjection, let p = out.headInput?.projection { p.weights.pointer.baseAddress!.update(from: b, count: b.count) }
        let staged = try StagedFolder(folder.path)
        staged.recordsGeneration = true  // readers load the folder as one commit
        try out.save(to: staged.path("embeddings.safetensors"))
        var summary: [String: Any] = [
            "stage": state.stage.rawValue, "epochs": schedule.count, "seed": state.options.seed,
            "options": (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(state.options))) ?? [:],
            "dataset": dataset.name, "users": dataset.users.count, "items": dataset.items.count,
            // The commit that wrote this summary, the embeddings and the adapter together.
            "commit": staged.generation,
        ]
        if let b = state.best { summary["best_validation_score"] = b }
        if let p = state.bestPhase { summary["best_epoch"] = p + 1 }
        for (c, v) in state.bestObjective { summary["best_\(c)_objective"] = v }
        for (c, p) in state.bestObjectivePhase { summary["best_\(c)_epoch"] = p + 1 }
        if let v = state.lastValidation { summary["last_validation"] = v.values }
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
        try staged.write("training-\(state.stage.rawValue).json", bytes: Array(data))
        if trainsLoRA, let lora = model.backbone.adapter {
            // The best epoch's adapter, with the best epoch's rows; the live weights stay as trained.
            let live = Array(lora.weights.pointer)
            if let b = bestAdapter { _ = lora.weights.pointer.update(fromContentsOf: b) }
            defer { _ = lora.weights.pointer.update(fromContentsOf: live) }
            try lora.save(into: staged, under: "adapter")
        }
        try staged.commit()
    }
}
