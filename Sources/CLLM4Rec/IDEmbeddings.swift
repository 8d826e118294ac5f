import Foundation
import Tensor
import WeightIO

/// The trained parameters of CLLM4Rec: one embedding per user and per item, in three copies.
/// Collaborative and content copies are learned in pretraining (tied by mutual regularization);
/// the recommendation copy starts as the collaborative one and is finetuned with the item head.
public final class IDEmbeddings: @unchecked Sendable {
    public enum Copy: String, CaseIterable, Codable, Sendable { case collaborative, content, recommendation }

    public let users: Int, items: Int, width: Int
    /// [users, width] and [items, width] per copy.
    public private(set) var userTables: [Copy: FloatBuffer] = [:]
    public private(set) var itemTables: [Copy: FloatBuffer] = [:]
    /// The recommendation head's input standardization (nil: raw h, the paper); goes with the
    /// recommendation copy, whose item rows were learned against it.
    public var headInput: HeadInputStandardization? = nil

    /// Tensor names of `headInput` in `embeddings.safetensors`: mean and scale of shape [width],
    /// the whitening matrix (when whitened) [width, width].
    static let headInputMeanName = "head_input.mean", headInputScaleName = "head_input.scale", headInputWhiteningName = "head_input.whitening"
    /// A learned head input's D [rank, width] and U [width, rank].
    static let headInputDownName = "head_input.down", headInputUpName = "head_input.up"

    public init(users: Int, items: Int, width: Int, copies: [Copy] = [.collaborative, .content]) {
        self.users = users; self.items = items; self.width = width
        for c in copies { add(c) }
    }

    public func add(_ c: Copy) {
        if userTables[c] == nil { userTables[c] = FloatBuffer(count: users * width) }
        if itemTables[c] == nil { itemTables[c] = FloatBuffer(count: items * width) }
    }

    public func has(_ c: Copy) -> Bool { userTables[c] != nil }

    public func user(_ c: Copy) -> UnsafeMutablePointer<Float> { userTables[c]!.pointer.baseAddress! }
    public func item(_ c: Copy) -> UnsafeMutablePointer<Float> { itemTables[c]!.pointer.baseAddress! }

    /// Copies one copy's tables into another (the recommendation copy starts as the collaborative one).
    public func copy(_ from: Copy, to: Copy) { copy(from: self, from, to: to) }

    /// Copies `source`'s tables of copy `from` into this object's copy `to` (added if missing).
    func copy(from source: IDEmbeddings, _ from: Copy, to: Copy) {
        add(to)
        user(to).update(from: source.user(from), count: users * width)
        item(to).update(from: source.item(from), count: items * width)
    }

    /// Tensor names in `embeddings.safetensors`: `user.collaborative`, `item.content`, ...
    static func name(_ c: Copy, isUser: Bool) -> String { (isUser ? "user." : "item.") + c.rawValue }

    public func save(to path: String) throws {
        var entries: [SafeTensorsWriter.Entry] = []
        for c in Copy.allCases where has(c) {
            entries.append(.init(name: IDEmbeddings.name(c, isUser: true), shape: [users, width], values: UnsafeBufferPointer(userTables[c]!.pointer)))
            entries.append(.init(name: IDEmbeddings.name(c, isUser: false), shape: [items, width], values: UnsafeBufferPointer(itemTables[c]!.pointer)))
        }
        guard let h = headInput else { return try SafeTensorsWriter.write(entries, metadata: ["format": "cllm4rec"], to: path) }
        try h.mean.withUnsafeBufferPointer { mean in
            try h.scale.withUnsafeBufferPointer { scale in
                try (h.whitening ?? []).withUnsafeBufferPointer { whitening in
                    let (down, up) = (h.projection?.downValues ?? [], h.projection?.upValues ?? [])
                    try down.withUnsafeBufferPointer { down in
                        try up.withUnsafeBufferPointer { up in
                            entries.append(.init(name: IDEmbeddings.headInputMeanName, shape: [width], values: mean))
                            entries.append(.init(name: IDEmbeddings.headInputScaleName, shape: [width], values: scale))
                            if h.whitening != nil { entries.append(.init(name: IDEmbeddings.headInputWhiteningName, shape: [width, width], values: whitening)) }
                            if let p = h.projection {
                                entries.append(.init(name: IDEmbeddings.headInputDownName, shape: [p.rank, width], values: down))
                                entries.append(.init(name: IDEmbeddings.headInputUpName, shape: [width, p.rank], values: up))
                            }
                            try SafeTensorsWriter.write(entries, metadata: ["format": "cllm4rec"], to: path)
                        }
                    }
                }
            }
        }
    }

    /// Reads every table of the file; each must have the expected shape, and no other tensor may be there.
    public static func load(path: String, users: Int, items: Int, width: Int) throws -> IDEmbeddings {
        let file = try SafeTensorsSource(path: path)
        let e = IDEmbeddings(users: users, items: items, width: width, copies: [])
        var headMean: [Float]? = nil, headScale: [Float]? = nil, headWhitening: [Float]? = nil
        var down: [Float]? = nil, up: [Float]? = nil, downRank = 0, upRank = 0
        for h in file.tensorHeaders {
            if h.name == headInputDownName || h.name == headInputUpName {
                let isDown = h.name == headInputDownName
                guard h.shape.count == 2, (isDown ? h.shape[1] : h.shape[0]) == width, h.count > 0 else {
                    throw CLLM4RecError.invalidFile(path, "tensor \"\(h.name)\" has shape \(h.shape), expected \(isDown ? "[rank, \(width)]" : "[\(width), rank]")")
                }
                var v = [Float](repeating: 0, count: h.count)
                try v.withUnsafeMutableBufferPointer { try file.read(h.name, into: $0) }
                if isDown { down = v; downRank = h.shape[0] } else { up = v; upRank = h.shape[1] }
                continue
            }
            if h.name == headInputWhiteningName {
                guard h.shape == [width, width] else { throw CLLM4RecError.invalidFile(path, "tensor \"\(h.name)\" has shape \(h.shape), expected [\(width), \(width)]") }
                var v = [Float](repeating: 0, count: width * width)
                try v.withUnsafeMutableBufferPointer { try file.read(h.name, into: $0) }
                headWhitening = v
                continue
            }
            if h.name == headInputMeanName || h.name == headInputScaleName {
                guard h.shape == [width] else { throw CLLM4RecError.invalidFile(path, "tensor \"\(h.name)\" has shape \(h.shape), expected [\(width)]") }
                var v = [Float](repeating: 0, count: width)
                try v.withUnsafeMutableBufferPointer { try file.read(h.name, into: $0) }
                if h.name == headInputMeanName { headMean = v } else { headScale = v }
                continue
            }
            guard let c = Copy.allCases.first(where: { h.name == name($0, isUser: true) || h.name == name($0, isUser: false) }) else {
                throw CLLM4RecError.invalidFile(path, "unexpected tensor \"\(h.name)\"")
            }
            let isUser = h.name.hasPrefix("user.")
            let shape = [isUser ? users : items, width]
            guard h.shape == shape else { throw CLLM4RecError.invalidFile(path, "tensor \"\(h.name)\" has shape \(h.shape), expected \(shape)") }
            e.add(c)
            try file.read(h.name, into: isUser ? e.userTables[c]!.pointer : e.itemTables[c]!.pointer)
        }
        for c in Copy.allCases where e.has(c) {
            for isUser in [true, false] where !file.tensorHeaders.contains(where: { $0.name == name(c, isUser: isUser) }) {
                throw CLLM4RecError.invalidFile(path, "tensor \"\(name(c, isUser: isUser))\" is missing")
            }
        }
        if down != nil, up != nil, downRank != upRank {
            throw CLLM4RecError.invalidFile(path, "tensors \"\(headInputDownName)\" (rank \(downRank)) and \"\(headInputUpName)\" (rank \(upRank)) differ in rank")
        }
        do { e.headInput = try HeadInputStandardization.stored(mean: headMean, scale: headScale, whitening: headWhitening, projection: (down, up, downRank)) } catch {
            throw CLLM4RecError.invalidFile(path, error.description)
        }
        return e
    }
}

/// Errors of the recommender; each names the file or the flag.
public enum CLLM4RecError: Error, CustomStringConvertible {
    case invalidFile(String, String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .invalidFile(f, m): return "\(f): \(m)"
        case let .invalidArgument(m): return m
        }
    }
}
