// swift-tools-version:6.1
import PackageDescription

// Release builds need AVX2/FMA code generation: without it SIMD8.addProduct compiles to scalar fmaf
// calls (measured 0.7 GFLOPS). `-wmo` is not added because it breaks `swift test`.
let fastMath: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"], .when(configuration: .release))
]

let package = Package(
    name: "cllm4rec",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "cllm4rec", targets: ["cllm4rec"]),
        .library(name: "GPT2", targets: ["GPT2"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(name: "Tensor", dependencies: ["COpenBLAS"], swiftSettings: fastMath),
        .target(name: "WeightIO", dependencies: ["CZlib"], swiftSettings: fastMath),
        .target(name: "Tokenizer", swiftSettings: fastMath),
        .target(name: "GPT2", dependencies: ["Tensor", "WeightIO", "Tokenizer"], swiftSettings: fastMath),
        .target(name: "RecData", dependencies: ["Tensor", "WeightIO", "Tokenizer"], swiftSettings: fastMath),
        .target(name: "CLLM4Rec", dependencies: ["GPT2", "RecData", "Tensor", "Tokenizer", "WeightIO"], swiftSettings: fastMath),
        .executableTarget(
            name: "cllm4rec",
            dependencies: [
                "GPT2", "WeightIO", "Tokenizer", "RecData", "CLLM4Rec", "Tensor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fastMath),
        .executableTarget(
            name: "benchmarks",
            dependencies: ["GPT2", "Tokenizer", "WeightIO", "Tensor", "CLLM4Rec"],
            swiftSettings: fastMath),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "RecDataTests", dependencies: ["RecData", "Tokenizer", "WeightIO"], exclude: ["Fixtures"]),
        .testTarget(name: "CLLM4RecTests", dependencies: ["CLLM4Rec", "GPT2", "RecData", "Tensor", "Tokenizer", "WeightIO"], exclude: ["Fixtures"]),
        .testTarget(name: "WeightIOTests", dependencies: ["WeightIO"], exclude: ["Fixtures"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"], exclude: ["Fixtures"]),
        .testTarget(name: "GPT2Tests", dependencies: ["GPT2", "WeightIO", "Tensor"], exclude: ["Fixtures"]),
        // Runs the built command-line tool end to end (the dependency makes SwiftPM build it first).
        .testTarget(name: "CLITests", dependencies: ["cllm4rec"]),
    ]
)
