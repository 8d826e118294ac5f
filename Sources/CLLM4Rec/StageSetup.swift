import Backbone
import Foundation
import Tensor

/// What a training stage runs with, once the folder, the flags and the backbone's family have had
/// their say; `notes` tell the user what was chosen for them.
public struct StageSetup {
    public var options: TrainingOptions
    public var notes: [String]
}

/// The finetuning choices a user left open (nil), to be filled from the family's measured recipe.
public struct OpenChoices: Sendable {
    public var headInput: HeadInputKind?
    public var loraRank: Int?
    public init(headInput: HeadInputKind?, loraRank: Int?) { self.headInput = headInput; self.loraRank = loraRank }
}

extension LoadedRecommender {
    /// Prepares `stage` on this folder: a resumed run takes its checkpoint's options; a new
    /// finetuning fills what the user left open (`open`) from `FinetuneRecipe.measured` for the
    /// backbone's architecture; the folder's `adapter/` is continued (same rank), or applied frozen
    /// without `loraRank`; a new adapter is made on the backbone's default targets and seeded with
    /// the run's seed. Refuses a resume without checkpoint, an `extendTo` shorter than the run and an
    /// adapter of another rank, naming the folder and the flag.
    public func prepareStage(_ stage: Stage, options: TrainingOptions, resume: Bool, open: OpenChoices? = nil,
                             extendTo: Int? = nil) throws -> StageSetup {
        let path = folder.path
        let saved = resume ? Trainer.savedOptions(folder: folder, stage: stage) : nil
        if resume && saved == nil {
            throw RecommenderError("\(path): no \(stage.rawValue) checkpoint to resume from")
        }
        var effective = saved ?? options
        var notes: [String] = []
        let adapterFile = folder.file("adapter/adapter_model.safetensors")
        let existingAdapter = FileManager.default.fileExists(atPath: adapterFile) ? try model.backbone.loadAdapter(path: folder.file("adapter")) : nil
        if stage == .finetune, !resume, let open {
            // What the user left open follows the family's measured recipe.
            let family = FinetuneRecipe.measured(architecture: model.backbone.architecture)
            var filled: [String] = []
            if open.headInput == nil { effective.headInput = family.headInput; filled.append("--head-input \(family.headInput.rawValue)") }
            if open.loraRank == nil {
                if let existingAdapter, family.loraRank > 0 {
                    effective.loraRank = existingAdapter.rank
                    filled.append("--lora-rank \(effective.loraRank) (adapter/'s own)")
                } else if existingAdapter == nil {
                    effective.loraRank = family.loraRank
                    filled.append("--lora-rank \(family.loraRank)")
                }
            }
            if !filled.isEmpty { notes.append("finetune: \(filled.joined(separator: " ")), \(family.basis)") }
        }
        // The trainer lengthens the resumed run's schedule itself.
        if let extendTo, extendTo < effective.epochs {
            throw RecommenderError("--extend-to \(extendTo): the run in \(path) has \(effective.epochs) epochs already")
        }
        if !resume && FileManager.default.fileExists(atPath: folder.file("checkpoint-\(stage.rawValue)/checkpoint.safetensors")) {
            notes.append("note: starting a new \(stage.rawValue) run; the stopped one in checkpoint-\(stage.rawValue)/ is replaced (--resume continues it)")
        }
        if let lora = existingAdapter {
            if effective.loraRank > 0 && lora.rank != effective.loraRank {
                throw RecommenderError("\(folder.file("adapter")) has rank \(lora.rank), not the --lora-rank \(effective.loraRank) given: pass --lora-rank \(lora.rank) to continue it, or remove adapter/ to start a new one")
            }
            model.backbone.adapter = lora
            notes.append(effective.loraRank > 0 ? "adapter/: rank \(lora.rank), continued" : "adapter/: rank \(lora.rank), applied frozen (--lora-rank \(lora.rank) trains it)")
        } else if effective.loraRank > 0 {
            let backbone = model.backbone
            let targets = effective.loraTargets.isEmpty ? backbone.defaultAdapterTargets : effective.loraTargets
            let lora: LowRankAdapter
            do { lora = try backbone.makeAdapter(rank: effective.loraRank, alpha: effective.loraAlpha, dropout: effective.loraDropout, targets: targets) } catch {
                throw RecommenderError("--lora-targets: \(error)")
            }
            var g = SplitMix64(seed: effective.seed)
            lora.initialize(using: &g)
            backbone.adapter = lora
        }
        return StageSetup(options: effective, notes: notes)
    }
}
