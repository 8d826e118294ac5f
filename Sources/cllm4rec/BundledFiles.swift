import Foundation

/// The GPT-2 folder that ships with the tool (`Models/gpt2`: config.json, vocab.json, merges.txt,
/// and model.safetensors once fetched), found from wherever the tool is run.
///
/// A relative path such as the default `Models/gpt2` is first taken relative to the working
/// directory, as given. When nothing is there, the same relative path is looked up next to the
/// executable and in its parent folders (a binary built in `.build/release/` finds the checkout's
/// `Models/gpt2`), and finally in `<prefix>/share/cllm4rec/` for an installed binary in
/// `<prefix>/bin/` (`Tools/install/prefix.sh`).
enum BundledFiles {
    /// The folder of the running executable, symbolic links resolved.
    static var executableFolder: String? {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? Bundle.main.executablePath
        guard let exe else { return nil }
        return (URL(fileURLWithPath: exe).resolvingSymlinksInPath().path as NSString).deletingLastPathComponent
    }

    /// Candidate locations of a relative path, in the order they are tried.
    static func candidates(_ relative: String) -> [String] {
        guard !relative.hasPrefix("/") else { return [relative] }
        var out = [relative]
        guard let exeDir = executableFolder else { return out }
        var dir = exeDir
        while true {
            out.append((dir as NSString).appendingPathComponent(relative))
            let parent = (dir as NSString).deletingLastPathComponent
            if parent == dir || parent.isEmpty { break }
            dir = parent
        }
        // <prefix>/bin/cllm4rec -> <prefix>/share/cllm4rec/gpt2 for "Models/gpt2"
        let share = ((exeDir as NSString).deletingLastPathComponent as NSString).appendingPathComponent("share/cllm4rec")
        out.append((share as NSString).appendingPathComponent((relative as NSString).lastPathComponent))
        return out
    }

    /// The first candidate folder that holds every file of `required`, or the path as given when
    /// none does (so that the error names what the user typed).
    static func resolve(_ path: String, requiring required: [String]) -> String {
        for c in candidates(path) where required.allSatisfy({ FileManager.default.fileExists(atPath: (c as NSString).appendingPathComponent($0)) }) {
            return c
        }
        return path
    }

    /// A folder with GPT-2's vocab.json and merges.txt.
    static func tokenizerFolder(_ path: String) -> String {
        let json = resolve(path, requiring: ["tokenizer.json"])
        return json != path || FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("tokenizer.json"))
            ? json : resolve(path, requiring: ["vocab.json", "merges.txt"])
    }

    /// A model folder (config.json; weights and tokenizer files as its architecture wants).
    static func modelFolder(_ path: String) -> String { resolve(path, requiring: ["config.json"]) }
}
