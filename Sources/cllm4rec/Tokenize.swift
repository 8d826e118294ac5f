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
            writes the text exactly (byte sequences that are not valid UTF-8 become U+FFFD). With \
            --lines, each line (split at LF bytes only; a CR stays part of its line) is encoded on its \
            own and gets one output line, as Hugging Face `encode_batch` over the lines.
            """)

    @Option(help: "Model folder with vocab.json and merges.txt.")
    var model: String = "Models/gpt2"

    @Flag(help: "Decode ids from standard input instead of encoding text.")
    var decode = false

    @Flag(help: "Encode each input line separately, one output line of ids per input line.")
    var lines = false

    func validate() throws {
        if decode && lines { throw ValidationError("--lines encodes; it cannot be combined with --decode") }
    }

    func run() throws {
        let model = BundledFiles.tokenizerFolder(self.model)
        let tok = try BPETokenizer.load(folder: model)
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
        } else if lines {
            var out = ""
            // Split on LF bytes, not Characters: Swift makes "\r\n" one Character.
            var pieces = input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            if input.last == UInt8(ascii: "\n") { pieces.removeLast() }  // a final newline ends the last line
            for piece in pieces {
                out += tok.encode(String(decoding: piece, as: UTF8.self)).map(String.init).joined(separator: " ")
                out += "\n"
            }
            FileHandle.standardOutput.write(Data(out.utf8))
        } else {
            let ids = tok.encode(String(decoding: input, as: UTF8.self))
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}
