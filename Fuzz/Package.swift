// swift-tools-version:6.1
// Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of every file reader, one executable per
// reader (its main hands the harness to libFuzzer's driver). Built only by Tools/fuzz.sh, with
// -sanitize=fuzzer,address; never by `swift test`.
import PackageDescription

let harnesses = [
    "FuzzSafeTensors", "FuzzZip", "FuzzPickle", "FuzzTorchCheckpoint", "FuzzGzip", "FuzzJSON",
    "FuzzTokenizerFiles", "FuzzTokenizerJSON", "FuzzGGUF", "FuzzRecBole", "FuzzBenchmarkSplit", "FuzzAmazon", "FuzzCSV", "FuzzPythonLiteral", "FuzzCorpora",
]

let package = Package(
    name: "cllm4rec-fuzz",
    dependencies: [.package(name: "cllm4rec", path: "..")],
    targets: [
        .target(name: "FuzzSupport", path: "Sources/FuzzSupport"),
    ] + harnesses.map { name in
        .executableTarget(
            name: name,
            dependencies: [
                "FuzzSupport",
                .product(name: "WeightIO", package: "cllm4rec"),
                .product(name: "Tokenizer", package: "cllm4rec"),
                .product(name: "RecData", package: "cllm4rec"),
            ],
            path: "Sources/\(name)")
    }
)
