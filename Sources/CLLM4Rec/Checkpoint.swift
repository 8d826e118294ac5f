import Foundation
import GPT2
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
        for (key, a) in adams {
            add("adam.m.\(key)", a.m.pointer.baseAddress!, [a.count])
            add("adam.v.\(key)", a.v.pointer.baseAddress!, [a.count])
            state.adamSteps[key] = a.step
        }
        if let lora = model.backbone.lora {
            add("lora.weights", lora.weights.pointer.baseAddress!, [lora.weights.count])
            add("lora.grad", lora.gradients.pointer.baseAddress!, [lora.gradients.count])
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

    func loadCheckpoint() throws {
        let saved = try Trainer.savedState(checkpointDir)
        guard saved.stage == state.stage else { throw CLLM4RecError.invalidFile(checkpointDir, "is a \(saved.stage.rawValue) checkpoint") }
        state = saved
        let path = checkpointDir + "/checkpoint.safetensors"
        let file = try SafeTensorsSource(path: path)
        let e = model.embeddings
        for h in file.tensorHeaders {
            let parts = h.name.split(separator: ".").map(String.init)
            func into(_ p: UnsafeMutablePointer<Float>, _ count: Int) throws {
                guard h.count == count else { throw CLLM4RecError.invalidFile(path, "tensor \"\(h.name)\" has \(h.count) values, expected \(count)") }
                try file.read(h.name, into: UnsafeMutableBufferPointer(start: p, count: count))
            }
            switch parts.first {
            case "emb", "best", "grad":
                guard parts.count == 3, let c = IDEmbeddings.Copy(rawValue: parts[2]) else { throw CLLM4RecError.invalidFile(path, "unexpected tensor \"\(h.name)\"") }
                let isUser = parts[1] == "user"
                let count = (isUser ? e.users : e.items) * e.width
                switch parts[0] {
                case "emb": e.add(c); try into(isUser ? e.user(c) : e.item(c), count)
                case "best": best.add(c); try into(isUser ? best.user(c) : best.item(c), count)
                default:
                    let g = gradients(c)
                    try into((isUser ? g.users : g.items).pointer.baseAddress!, count)
                }
            case "adam":
                let key = parts.dropFirst(2).joined(separator: ".")
                let a = adam(key, count: h.count)
                try into(parts[1] == "m" ? a.m.pointer.baseAddress! : a.v.pointer.baseAddress!, h.count)
                a.step = state.adamSteps[key] ?? 0
            case "lora":
                guard let lora = model.backbone.lora else { throw CLLM4RecError.invalidFile(path, "has LoRA tensors but this run has no adapter") }
                try into(parts[1] == "weights" ? lora.weights.pointer.baseAddress! : lora.gradients.pointer.baseAddress!, h.count)
            default:
                throw CLLM4RecError.invalidFile(path, "unexpected tensor \"\(h.name)\"")
            }
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
        let staged = try StagedFolder(folder.path)
        try out.save(to: staged.path("embeddings.safetensors"))
        var summary: [String: Any] = [
            "stage": state.stage.rawValue, "epochs": schedule.count, "seed": state.options.seed,
            "options": (try? JSONSerialization.jsonObject(with: JSONEncoder().encode(state.options))) ?? [:],
            "dataset": dataset.name, "users": dataset.users.count, "items": dataset.items.count,
        ]
        if let b = state.best { summary[state.stage == .pretrain ? "best_round_loss" : "best_validation_score"] = b }
        if let p = state.bestPhase { summary["best_epoch"] = p + 1 }
        if let v = state.lastValidation { summary["last_validation"] = v.values }
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
        try staged.write("training-\(state.stage.rawValue).json", bytes: Array(data))
        try staged.commit()
        if let lora = model.backbone.lora { try lora.save(to: folder.file("adapter")) }
    }
}
