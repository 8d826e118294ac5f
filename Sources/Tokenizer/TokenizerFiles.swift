import Foundation
import WeightIO

/// Byte-level BPE tokenizers from the files models ship: Hugging Face's `tokenizer.json` and a
/// GGUF file's `tokenizer.ggml.*` metadata. Only what this engine reproduces exactly is accepted;
/// anything else (another model type, a normalizer, a pre-tokenizer it does not run) is refused with
/// the file and the setting named.
extension BPETokenizer {
    /// Loads `tokenizer.json` when the folder has one (its end-of-text token is `<|endoftext|>`,
    /// else the folder's config.json `eos_token_id`), else GPT-2's `vocab.json` + `merges.txt`.
    public static func load(folder: String) throws -> BPETokenizer {
        let json = (folder as NSString).appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json) {
            var eos: Int? = nil
            if let data = FileManager.default.contents(atPath: (folder as NSString).appendingPathComponent("config.json")),
               let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                eos = config["eos_token_id"] as? Int ?? (config["eos_token_id"] as? [Int])?.first
            }
            return try load(tokenizerJSON: json, endOfTextId: eos)
        }
        let vocab = (folder as NSString).appendingPathComponent("vocab.json")
        guard FileManager.default.fileExists(atPath: vocab) else {
            throw TokenizerError.io(folder, "has neither tokenizer.json nor vocab.json + merges.txt (not a tokenizer folder)")
        }
        return try BPETokenizer(vocabPath: (folder as NSString).appendingPathComponent("vocab.json"),
                                mergesPath: (folder as NSString).appendingPathComponent("merges.txt"))
    }

    /// A `tokenizer.json` with a byte-level BPE model: pre-tokenizer `ByteLevel` (GPT-2) or
    /// `Sequence[Digits(individual_digits), ByteLevel]` (SmolLM), no normalizer; its added tokens
    /// are matched whole. The end-of-text token is `<|endoftext|>`, else the token `endOfTextId`.
    public static func load(tokenizerJSON path: String, endOfTextId: Int? = nil) throws -> BPETokenizer {
        guard let data = FileManager.default.contents(atPath: path) else { throw TokenizerError.io(path, "cannot read") }
        let root: JSONValue
        do { root = try JSONParser.parse(Array(data)) } catch {
            throw TokenizerError.invalidVocab(path, "invalid JSON at byte \(error.offset): \(error.problem)")
        }
        func bad(_ m: String) -> TokenizerError { .invalidVocab(path, m) }
        guard case .object = root, let model = root["model"] else { throw bad("has no \"model\" object") }
        guard model["type"] == .string("BPE") else { throw bad("model type \(model["type"].map(describe) ?? "missing") is not supported (byte-level BPE only)") }
        if let fallback = model["byte_fallback"], fallback != .bool(false), fallback != .null {
            throw bad("model.byte_fallback is set: a SentencePiece-style BPE, not byte-level (not supported)")
        }
        var nfc = false
        if let n = root["normalizer"], n != .null {
            guard n["type"] == .string("NFC") else { throw bad("normalizer \(describe(n)) is not supported (none, or NFC)") }
            nfc = true
        }
        let pre = try preTokenization(root["pre_tokenizer"] ?? .null, file: path)
        guard case let .object(vocabEntries)? = model["vocab"] else { throw bad("model.vocab must be an object of token -> id") }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(vocabEntries.count)
        for (token, v) in vocabEntries {
            guard case let .number(n) = v, let id = Int(n) else { throw bad("model.vocab[\"\(token)\"] is not an integer id") }
            vocab[token] = id
        }
        guard case let .array(mergeItems)? = model["merges"] else { throw bad("model.merges must be an array") }
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeItems.count)
        for (k, m) in mergeItems.enumerated() {
            switch m {
            case let .string(s):
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw TokenizerError.invalidMerge(file: path, line: k + 1, problem: "merge \"\(s)\" is not two tokens separated by one space") }
                merges.append((String(parts[0]), String(parts[1])))
            case let .array(pair) where pair.count == 2:
                guard case let .string(a) = pair[0], case let .string(b) = pair[1] else { fallthrough }
                merges.append((a, b))
            default:
                throw TokenizerError.invalidMerge(file: path, line: k + 1, problem: "merge \(k) is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        var specials: [String] = []
        if case let .array(added)? = root["added_tokens"] {
            for a in added {
                guard case let .string(content)? = a["content"], case let .number(n)? = a["id"], let id = Int(n) else {
                    throw bad("added_tokens entries need a string content and an integer id")
                }
                if let existing = vocab[content], existing != id { throw bad("added token \"\(content)\" has id \(id) but the vocabulary gives \(existing)") }
                vocab[content] = id
                specials.append(content)
            }
        }
        var eot: String? = vocab[BPETokenizer.endOfText] != nil ? BPETokenizer.endOfText : nil
        if eot == nil, let id = endOfTextId { eot = vocab.first { $0.value == id }?.key }
        guard let eot else {
            throw bad("has no <|endoftext|>, and no end-of-text token was named (config.json's eos_token_id\(endOfTextId.map { " \($0) is not in the vocabulary" } ?? " is missing"))")
        }
        return try BPETokenizer(vocab: vocab, merges: merges, specialTokens: specials, endOfText: eot, preTokenization: pre,
                                normalizesNFC: nfc, vocabPath: path, mergesPath: path)
    }

    /// The pre-tokenization a `pre_tokenizer` object describes.
    static func preTokenization(_ p: JSONValue, file: String) throws -> PreTokenization {
        func isGPT2ByteLevel(_ v: JSONValue) -> Bool {
            v["type"] == .string("ByteLevel") && (v["add_prefix_space"] ?? .bool(false)) == .bool(false)
                && (v["use_regex"] ?? .bool(true)) == .bool(true)
        }
        if isGPT2ByteLevel(p) { return .gpt2 }
        if p["type"] == .string("Sequence"), case let .array(steps)? = p["pretokenizers"], steps.count == 2,
           steps[0]["type"] == .string("Digits"), steps[0]["individual_digits"] == .bool(true), isGPT2ByteLevel(steps[1]) {
            return .smollm
        }
        // Sequence[Split(Regex(Llama 3's or Qwen2's pattern), isolated), ByteLevel(use_regex: false)]
        if p["type"] == .string("Sequence"), case let .array(steps)? = p["pretokenizers"], steps.count == 2,
           steps[0]["type"] == .string("Split"), case let .string(pattern)? = steps[0]["pattern"]?["Regex"],
           (steps[0]["behavior"] ?? .string("Isolated")) == .string("Isolated"), (steps[0]["invert"] ?? .bool(false)) == .bool(false),
           steps[1]["type"] == .string("ByteLevel"), (steps[1]["add_prefix_space"] ?? .bool(false)) == .bool(false),
           steps[1]["use_regex"] == .bool(false) {
            if pattern == BPETokenizer.llama3Pattern { return .llama3 }
            if pattern == BPETokenizer.qwen2Pattern { return .qwen2 }
            throw TokenizerError.invalidVocab(file, "pre_tokenizer Split regex \"\(pattern)\" is not supported (Llama 3's and Qwen2's are)")
        }
        throw TokenizerError.invalidVocab(file, "pre_tokenizer \(describe(p)) is not supported (ByteLevel, Sequence[Digits(individual_digits), ByteLevel], or Llama 3's / Qwen2's Split regex then ByteLevel)")
    }

    /// A GGUF file's tokenizer (`tokenizer.ggml.model` gpt2): tokens, merges, CONTROL and
    /// USER_DEFINED tokens matched whole, pre-tokenizer from `tokenizer.ggml.pre` as llama.cpp
    /// defines it (`smollm`: digits apart; `gpt-2`, `default` or none: GPT-2's regex).
    public convenience init(gguf g: GGUFFile) throws {
        let file = g.path
        func bad(_ m: String) -> TokenizerError { .invalidVocab(file, m) }
        let model = try g.string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw bad("tokenizer.ggml.model is \"\(model)\"; only byte-level BPE (\"gpt2\") tokenizers are supported")
        }
        let preName = g["tokenizer.ggml.pre"] == nil ? "default" : try g.string("tokenizer.ggml.pre")
        let pre: PreTokenization
        switch preName {
        case "smollm": pre = .smollm
        case "gpt-2", "gpt2", "default": pre = .gpt2
        case "llama3", "llama-v3", "llama-bpe": pre = .llama3
        case "qwen2": pre = .qwen2
        default: throw bad("tokenizer.ggml.pre \"\(preName)\" is not supported (smollm, gpt-2, llama-bpe, qwen2)")
        }
        let tokens = try g.strings("tokenizer.ggml.tokens")
        let types = g["tokenizer.ggml.token_type"] == nil ? [] : try g.integers("tokenizer.ggml.token_type")
        guard types.isEmpty || types.count == tokens.count else {
            throw bad("tokenizer.ggml.token_type has \(types.count) entries for \(tokens.count) tokens")
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(tokens.count)
        var specials: [String] = []
        for (id, t) in tokens.enumerated() {
            guard vocab[t] == nil else { throw bad("token \"\(t)\" appears twice (ids \(vocab[t]!) and \(id))") }
            vocab[t] = id
            if !types.isEmpty, types[id] == 3 || types[id] == 4 { specials.append(t) }
        }
        let mergeLines = g["tokenizer.ggml.merges"] == nil ? [] : try g.strings("tokenizer.ggml.merges")
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeLines.count)
        for (k, m) in mergeLines.enumerated() {
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw TokenizerError.invalidMerge(file: file, line: k + 1, problem: "merge \"\(m)\" is not two tokens separated by one space") }
            merges.append((String(parts[0]), String(parts[1])))
        }
        var eot = BPETokenizer.endOfText
        if vocab[eot] == nil, let e = g["tokenizer.ggml.eos_token_id"]?.integer, e >= 0, e < tokens.count { eot = tokens[e] }
        // llama.cpp normalizes nothing for these; transformers' Qwen2 tokenizer.json has NFC.
        try self.init(vocab: vocab, merges: merges, specialTokens: specials, endOfText: eot, preTokenization: pre,
                      normalizesNFC: pre == .qwen2, vocabPath: file, mergesPath: file + " (tokenizer.ggml.merges)")
    }
}

/// A short rendering of a JSON value for messages.
private func describe(_ v: JSONValue) -> String {
    switch v {
    case .null: return "null"
    case let .bool(b): return "\(b)"
    case let .number(n): return n
    case let .string(s): return "\"\(s)\""
    case .array: return "[...]"
    case .object:
        if case let .string(t)? = v["type"] { return t }
        return "{...}"
    }
}

extension BPETokenizer {
    /// This tokenizer as a Hugging Face `tokenizer.json` (BPE model, byte-level pre-tokenizer and
    /// decoder, special tokens as added tokens), which `load(tokenizerJSON:)` and
    /// `PreTrainedTokenizerFast(tokenizer_file=)` read back to the same encodings.
    public func tokenizerJSON() -> [UInt8] {
        let specialIds = Dictionary(uniqueKeysWithValues: specialTokens.map { ($0.value, $0.key) })
        func spelled(_ id: Int) -> String { specialIds[id] ?? String(tokenBytes[id].map { byteToUnicode[Int($0)] }) }
        let quoted = JSONValue.quoted
        let ordered = merges.sorted { ($0.value >> 32) < ($1.value >> 32) }
        var s = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": ["
        s += specialTokens.sorted { $0.value < $1.value }.map {
            "\n    {\"id\": \($0.value), \"content\": \(quoted($0.key)), \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}"
        }.joined(separator: ",")
        s += "\n  ],\n  \"normalizer\": \(normalizesNFC ? "{\"type\": \"NFC\"}" : "null"),\n  \"pre_tokenizer\": "
        let byteLevel = "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}"
        switch preTokenization {
        case .gpt2: s += byteLevel
        case .smollm: s += "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true}, \(byteLevel)]}"
        case .llama3, .qwen2:
            let pattern = quoted(preTokenization == .llama3 ? BPETokenizer.llama3Pattern : BPETokenizer.qwen2Pattern)
            s += "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \(pattern)}, \"behavior\": \"Isolated\", \"invert\": false}, "
                + "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, \"use_regex\": false}]}"
        }
        s += ",\n  \"post_processor\": null,\n  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},"
        s += "\n  \"model\": {\n    \"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, \"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false, \"byte_fallback\": false, \"ignore_merges\": false,\n    \"vocab\": {"
        s += (0..<count).map { "\n      \(quoted(spelled($0))): \($0)" }.joined(separator: ",")
        s += "\n    },\n    \"merges\": ["
        s += ordered.map { entry in
            let a = Int(entry.key >> 32), b = Int(entry.key & 0xFFFF_FFFF)
            return "\n      \(quoted(spelled(a) + " " + spelled(b)))"
        }.joined(separator: ",")
        s += "\n    ]\n  }\n}\n"
        return Array(s.utf8)
    }
}

extension BPETokenizer {
    /// Llama 3's pre-tokenizer regex, as its tokenizer.json spells it.
    public static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Qwen2's: single digits.
    public static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
}
