import Foundation

/// Before the first step of a run under mpirun, the processes check that they start from the same
/// place: the same data, the same options, the same resume point and the same parameters. Each
/// process reads its own copy of the folder (per-machine copies can differ: a stale checkpoint, a
/// different split), and processes that disagree would exchange mismatched gradients, or wait for
/// each other's collectives forever. A disagreement stops every process with one message naming
/// the processes and what differs.
extension Trainer {
    /// What the processes compare, each as a hash (and, for the resume point, its values).
    func startFingerprints() -> [(what: String, hash: UInt64, detail: String)] {
        var data = FNV1a()
        for rows in [dataset.train, dataset.validation, dataset.test] {
            for r in rows { for x in r { data.add(UInt64(x)) }; data.add(0xFFFF_FFFF) }
        }
        for name in dataset.users + dataset.items { data.add(name.utf8) }
        let options = state.options
        let optionsBytes = (try? { let e = JSONEncoder(); e.outputFormatting = .sortedKeys; return try e.encode(options) }()) ?? Data()
        var o = FNV1a()
        o.add(optionsBytes)
        let point = "epoch \(state.phase + 1), step \(state.step) (optimizer step \(state.globalStep))"
        var p = FNV1a()
        for x in [state.phase, state.step, state.globalStep] { p.add(UInt64(x)) }
        return [("data", data.value >> 11, ""), ("options", o.value >> 11, ""), ("resume point", p.value >> 11, point),
                ("parameters", parameterHashNow() >> 11, "")]
    }

    /// Throws, on every process alike, if the processes do not start from the same place.
    func agreeOnStart() throws {
        guard collective.isDistributed else { return }
        var problems: [String] = []
        for (what, hash, detail) in startFingerprints() {
            let all = collective.gather(hash)
            let differing = all.indices.filter { all[$0] != all[0] }
            guard !differing.isEmpty else { continue }
            var line = "process\(differing.count > 1 ? "es" : "") \(differing.map(String.init).joined(separator: ", ")) differ\(differing.count > 1 ? "" : "s") from process 0 in \(what)"
            if !detail.isEmpty { line += " (process \(collective.rank) is at \(detail))" }
            problems.append(line)
        }
        guard problems.isEmpty else {
            throw CLLM4RecError.invalidFile(folder.path, "the \(collective.size) processes do not start from the same place: \(problems.joined(separator: "; ")). Give every process the same folder (a shared file system, or copies made after the last checkpoint)")
        }
    }

    /// A checkpoint written by P processes with accumulation A resumed by P' processes: the global
    /// batch P x A is kept by accumulating P x A / P' micro-batches per process, or the run stops
    /// with the arithmetic when that is not a whole number.
    func keepGlobalBatch(savedProcesses: Int) throws {
        let now = collective.size
        guard savedProcesses != now else { return }
        let global = savedProcesses * state.options.accumulate
        guard global % now == 0 else {
            throw CLLM4RecError.invalidArgument("the checkpoint in \(checkpointDir) was written by \(savedProcesses) processes with --accumulate \(state.options.accumulate) (global batch \(global) micro-batches per optimizer step); \(now) processes cannot keep it (\(global) is not a multiple of \(now)): resume with a process count that divides \(global)")
        }
        if collective.isRoot {
            print("resuming with \(now) process\(now > 1 ? "es" : "") instead of \(savedProcesses): --accumulate \(state.options.accumulate) -> \(global / now), the same \(global) micro-batches per optimizer step")
        }
        state.options.accumulate = global / now
    }

    /// The hash of every trained buffer (embeddings, adapter), as `checkSync` compares them.
    func parameterHashNow() -> UInt64 {
        let e = model.embeddings
        var buffers: [UnsafeBufferPointer<Float>] = []
        for c in IDEmbeddings.Copy.allCases where e.has(c) {
            buffers.append(UnsafeBufferPointer(start: e.user(c), count: e.users * e.width))
            buffers.append(UnsafeBufferPointer(start: e.item(c), count: e.items * e.width))
        }
        if let lora = model.backbone.adapter { buffers.append(UnsafeBufferPointer(lora.weights.pointer)) }
        return parameterHash(buffers)
    }
}
