import Backbone
import Tensor
import Tokenizer

/// The backbone with the user and item tokens: token ids below `firstUser` are the language model's
/// words (their embedding is the frozen token-table row); `firstUser + i` is user i and `firstItem + j` item j, whose
/// embeddings come from a chosen copy of `IDEmbeddings`.
public final class RecModel: @unchecked Sendable {
    public let backbone: any LanguageBackbone
    public let embeddings: IDEmbeddings
    public let firstUser: Int
    public let firstItem: Int
    public var width: Int { backbone.width }
    public var users: Int { embeddings.users }
    public var items: Int { embeddings.items }

    public init(backbone: any LanguageBackbone, embeddings: IDEmbeddings) {
        precondition(backbone.width == embeddings.width, "embedding width must equal the backbone's hidden width")
        self.backbone = backbone
        self.embeddings = embeddings
        firstUser = backbone.vocabSize
        firstItem = firstUser + embeddings.users
    }

    public func isID(_ t: Int) -> Bool { t >= firstUser }

    /// The embedding row of an ID token in `copy`.
    public func idRow(_ t: Int, _ copy: IDEmbeddings.Copy) -> UnsafeMutablePointer<Float> {
        t < firstItem ? embeddings.user(copy) + (t - firstUser) * width : embeddings.item(copy) + (t - firstItem) * width
    }

    /// Input embeddings [tokens.count, C] of a token sequence.
    public func embed(_ tokens: [Int], copy: IDEmbeddings.Copy, into out: UnsafeMutablePointer<Float>) {
        let c = width, wte = backbone.tokenEmbeddings
        for (r, t) in tokens.enumerated() {
            let src = t >= firstUser ? UnsafePointer(idRow(t, copy)) : UnsafePointer(wte + t * c)
            precondition(t >= 0 && t < firstItem + items, "token \(t) outside the extended vocabulary")
            (out + r * c).update(from: src, count: c)
        }
    }
}

/// Gradient buffers for one copy's user and item tables.
public final class IDGradients: @unchecked Sendable {
    public let users: FloatBuffer, items: FloatBuffer
    let width: Int, firstUser: Int, firstItem: Int

    init(model: RecModel) {
        users = FloatBuffer(count: model.users * model.width)
        items = FloatBuffer(count: model.items * model.width)
        width = model.width; firstUser = model.firstUser; firstItem = model.firstItem
    }

    public func zero() { users.pointer.update(repeating: 0); items.pointer.update(repeating: 0) }

    func row(_ t: Int) -> UnsafeMutablePointer<Float> {
        t < firstItem ? users.pointer.baseAddress! + (t - firstUser) * width : items.pointer.baseAddress! + (t - firstItem) * width
    }
}
