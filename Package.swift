// swift-tools-version:6.1
import PackageDescription

// Release builds need AVX2/FMA code generation: without it SIMD8.addProduct compiles to scalar fmaf
// calls (measured 0.7 GFLOPS). `-wmo` is not added because it breaks `swift test`.
//
// Everything that reads input (weights, tokenizer files, datasets, checkpoints, flags) keeps Swift's
// bounds, overflow and precondition checks in release builds (`-O`): a reader bug then stops with a
// message instead of reading or writing out of bounds in the binary users run. Only the numeric
// kernels of `Tensor`, whose loops run over pointers and gain measurably, drop them (`-Ounchecked`).
let checked: [SwiftSetting] = [
    .unsafeFlags(["-target-cpu", "haswell"], .when(configuration: .release))
]
//
// Debug builds (`swift test`) optimize the kernels too (`-O`, checks kept): unoptimized SIMD code is
// two orders of magnitude slower, and the CLI tests' tiny GPT-2 still has GPT-2's 50,257-word head,
// whose softmax then took 78% of the test suite's training time (perf, measured).
let kernels: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-target-cpu", "haswell"], .when(configuration: .release)),
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "cllm4rec",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "cllm4rec", targets: ["cllm4rec"]),
        .library(name: "GPT2", targets: ["GPT2"]),
        .library(name: "Llama", targets: ["Llama"]),
        // The readers, for the fuzzing package in Fuzz/.
        .library(name: "WeightIO", targets: ["WeightIO"]),
        .library(name: "Tokenizer", targets: ["Tokenizer"]),
        .library(name: "RecData", targets: ["RecData"]),
    ],
    traits: [
        .trait(name: "TLS", description: "HTTPS in `serve` (--tls-cert, --tls-key) through swift-nio-ssl, which compiles BoringSSL."),
        .default(enabledTraits: ["TLS"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `cllm4rec serve`. Traits off: neither swift-configuration nor full Foundation is needed.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0", traits: []),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // Already in the graph through Hummingbird; named here for the shutdown deadline.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.0.0"),
        // Already in the graph through Hummingbird; named for the server's TLS (NIOSSL), its request
        // read deadline (NIOHTTPTypes' request parts) and the tests' TLS client (NIOPosix).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // Open MPI (libopenmpi-dev): data-parallel training and evaluation under mpirun.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // Matrix-vector products from GGUF's block formats (decoding from quantized weights): C, with a
        // portable loop and an AVX2 one chosen at run time; optimized in debug builds too.
        .target(name: "CQuant", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CQuant"], swiftSettings: kernels),
        .target(name: "WeightIO", dependencies: ["CZlib"], swiftSettings: checked),
        .target(name: "Tokenizer", dependencies: ["WeightIO"], swiftSettings: checked),
        // The seam between the method and the language model: the protocol every architecture
        // implements, KV cache, sampling and generation.
        .target(name: "Backbone", dependencies: ["Tensor", "WeightIO", "Tokenizer"], swiftSettings: checked),
        .target(name: "GPT2", dependencies: ["Backbone", "Tensor", "WeightIO", "Tokenizer"], swiftSettings: checked),
        .target(name: "Llama", dependencies: ["Backbone", "Tensor", "WeightIO", "Tokenizer"], swiftSettings: checked),
        // The registry: one line per model type (docs/adding-a-backbone.md). Everything above it reaches
        // GPT-2 and the Llama family only through here.
        .target(name: "Architectures", dependencies: ["Backbone", "GPT2", "Llama", "Tokenizer", "WeightIO"], swiftSettings: checked),
        .target(name: "RecData", dependencies: ["Tensor", "WeightIO", "Tokenizer"], swiftSettings: checked),
        .target(name: "CLLM4Rec", dependencies: ["Architectures", "Backbone", "RecData", "Tensor", "Tokenizer", "WeightIO"], swiftSettings: checked),
        // MPI_COMM_WORLD as the trainer's `Collective`.
        .target(name: "Cluster", dependencies: ["CLLM4Rec", "CMPI"], swiftSettings: checked),
        // The HTTP server: routes, batching queue, reload, OpenAPI document (embedded).
        .target(
            name: "Serving",
            dependencies: [
                "CLLM4Rec", "RecData", "Tokenizer", "Backbone", "Tensor", "WeightIO",
                .product(name: "Hummingbird", package: "hummingbird"),
                // --tls-cert/--tls-key: swift-nio-ssl (BoringSSL) under Hummingbird's TLS channel.
                // Only with the TLS trait (default on): `swift build --disable-default-traits` leaves
                // BoringSSL out, about half of a release build from scratch.
                .product(name: "HummingbirdTLS", package: "hummingbird", condition: .when(traits: ["TLS"])),
                .product(name: "NIOSSL", package: "swift-nio-ssl", condition: .when(traits: ["TLS"])),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.embedInCode("openapi.json")],
            swiftSettings: checked),
        .executableTarget(
            name: "cllm4rec",
            dependencies: [
                "Architectures", "Backbone", "WeightIO", "Tokenizer", "RecData", "CLLM4Rec", "Tensor", "Serving", "Cluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: checked),
        .executableTarget(
            name: "benchmarks",
            dependencies: ["Architectures", "Backbone", "Tokenizer", "WeightIO", "Tensor", "CLLM4Rec", "Cluster"],
            swiftSettings: checked),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "CQuant", "WeightIO"]),
        .testTarget(name: "RecDataTests", dependencies: ["RecData", "Tokenizer", "WeightIO"], exclude: ["Fixtures"]),
        .testTarget(name: "CLLM4RecTests", dependencies: ["CLLM4Rec", "Architectures", "Backbone", "GPT2", "RecData", "Tensor", "Tokenizer", "WeightIO", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "WeightIOTests", dependencies: ["WeightIO"], exclude: ["Fixtures"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "WeightIO"], exclude: ["Fixtures"]),
        .testTarget(name: "LlamaTests", dependencies: ["Llama", "Backbone", "WeightIO", "Tensor", "Tokenizer"], exclude: ["Fixtures"]),
        .testTarget(name: "GPT2Tests", dependencies: ["GPT2", "Backbone", "WeightIO", "Tensor"], exclude: ["Fixtures"]),
        // The fixtures several test targets share, by name (each stays in its own target's Fixtures),
        // and the harness that runs the built tool.
        .target(name: "TestSupport", dependencies: ["Backbone", "GPT2", "Llama"], path: "Tests/TestSupport"),
        .testTarget(name: "BackboneTests", dependencies: ["Backbone", "Tensor", "TestSupport"]),
        // Runs the built command-line tool end to end (the dependency makes SwiftPM build it first).
        .testTarget(name: "CLITests", dependencies: ["cllm4rec", "CLLM4Rec", "Backbone", "WeightIO", "RecData", "TestSupport"]),
        // The server in process and as `cllm4rec serve`: its answers are compared with the tool's.
        .testTarget(name: "ServingTests", dependencies: [
            "cllm4rec", "Serving", "CLLM4Rec", "Backbone", "TestSupport", .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "NIOPosix", package: "swift-nio"),
        ]),
    ]
)
