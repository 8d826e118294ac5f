import ArgumentParser
import Foundation
import Tokenizer

/// `cllm4rec tokenize`: text to GPT-2 token ids and back, as Hugging Face does it.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encode standard input to GPT-2 token ids, or decode ids to text.",
        discussion: """
            Reads all of standard input as one text (invalid UTF-8 bytes become U+FFFD) and prints the \
            ids on one line, separated by spaces. With --decode, reads whitespace-separated ids and \
            writes the text exactly (byte sequences that are not valid UTF-8 become U+FFFD).
            """)

    @Option(help: "Model folder with vocab.json and merges.txt.")
    var model: String = "Models/gpt2"

    @Flag(help: "Decode ids from standard input instead of encoding text.")
    var decode = false

    func run() throws {
        let tok = try GPT2Tokenizer(vocabPath: model + "/vocab.json", mergesPath: model + "/merges.txt")
        let input = FileHandle.standardInput.readDataToEndOfFile()
        if decode {
            var ids: [Int] = []
            for (k, word) in String(decoding: input, as: UTF8.self).split(whereSeparator: { $0.isWhitespace }).enumerated() {
                guard let id = Int(word), id >= 0, id < tok.count else {
                    throw CLIError("standard input, id \(k + 1): \"\(word)\" is not a token id in 0..<\(tok.count)")
                }
                ids.append(id)
            }
            FileHandle.standardOutput.write(Data(try tok.decode(ids).utf8))
        } else {
            let ids = tok.encode(String(decoding: input, as: UTF8.self))
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}
