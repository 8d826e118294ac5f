/// Every prompt of the method in one place (docs/CLLM4REC.md §3), as the reference code writes
/// them; `user_i` and `item_j` are the ID tokens (by index, not external id) that `IDTokenizer`
/// turns into single tokens.
///
///     PromptTemplates.review(user: 3, item: 7)  // "user_3 wrote the following review for item_7:"
public enum PromptTemplates {
    /// Collaborative documents and the first half of the finetuning prompt: the user's items follow.
    public static func history(user u: Int) -> String { "user_\(u) has interacted with" }
    /// The second half of the finetuning prompt, after the visible items; the hidden items are predicted.
    public static func future(user u: Int) -> String { ", user_\(u) will interact with" }
    /// Review documents, and the prompt `generate --review` continues.
    public static func review(user u: Int, item j: Int) -> String { "user_\(u) wrote the following review for item_\(j):" }
    /// Item and user text documents.
    public static func itemText(item j: Int) -> String { "item_\(j) is described as:" }
    public static func userText(user u: Int) -> String { "user_\(u) is described as:" }
}
