// swift-tools-version: 6.1
// qlora: a quantization-first QLoRA fine-tuning engine for the CPU.
import PackageDescription

/// Release builds of the kernel targets use -Ounchecked; each ISA target gets its own -march so the
/// same binary runs on any x86-64 CPU: the dispatcher picks a target from the CPU's features at run time.
func kernelFlags(march: String) -> [SwiftSetting] {
    [
        .unsafeFlags(["-Xcc", "-march=\(march)"]),
        .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
    ]
}

let package = Package(
    name: "qlora",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "qlora", targets: ["qlora"]),
        .library(name: "QLoRA", targets: ["QLoRA"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // qlora board's HTTP server: FlyingFox needs no SwiftNIO, so CI's clean build stays short.
        .package(url: "https://github.com/swhitty/FlyingFox", from: "0.27.1"),
    ],
    targets: [
        // MARK: Public API
        .executableTarget(
            name: "qlora",
            dependencies: [
                "QLoRA", "QLoRABoard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/qlora"
        ),
        .target(
            name: "QLoRA",
            dependencies: [
                "QLoRACore", "QLoRAKernels", "QLoRAQuant", "QLoRAFormats", "QLoRABench", "QLoRAPlan",
                "QLoRAModel", "QLoRATokenizer", "QLoRATrain",
            ],
            path: "Sources/QLoRA"
        ),

        // MARK: Implementation
        .systemLibrary(name: "CZstd", path: "Sources/CZstd"),
        .target(name: "CQLoRASupport", path: "Sources/CQLoRASupport"),
        .target(name: "QLoRACore", dependencies: ["CQLoRASupport"], path: "Sources/QLoRACore"),
        .target(
            name: "QLoRAKernels",
            dependencies: ["QLoRACore", "CQLoRASupport", "QLoRAKernelsAVX512", "QLoRAKernelsAVX512BF16", "QLoRAKernelsAVX2", "CQLoRAInt8"],
            path: "Kernels/Dispatch",
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .target(
            name: "QLoRAKernelsAVX512", dependencies: ["QLoRACore", "CQLoRASupport"], path: "Kernels/AVX512",
            swiftSettings: kernelFlags(march: "x86-64-v4")
        ),
        // int8 inference products: C with function-level target attributes, because Swift's SIMD types
        // do not lower to vpdpbusd / vpmaddubsw; the variant is picked from the CPU's features at run time.
        .target(
            name: "CQLoRAInt8", path: "Kernels/Int8",
            cSettings: [.unsafeFlags(["-O3"], .when(configuration: .release))]
        ),
        // AVX512-BF16 (vdpbf16ps): its own target so only these kernels assume the extension; the
        // dispatcher calls them only when CPUFeatures reports it (the binary still runs anywhere).
        .target(
            name: "QLoRAKernelsAVX512BF16", dependencies: ["QLoRACore", "CQLoRASupport"], path: "Kernels/AVX512BF16",
            swiftSettings: kernelFlags(march: "x86-64-v4") + [.unsafeFlags(["-Xcc", "-mavx512bf16"])]
        ),
        .target(
            name: "QLoRAKernelsAVX2", dependencies: ["QLoRACore", "CQLoRASupport"], path: "Kernels/AVX2",
            swiftSettings: kernelFlags(march: "x86-64-v3")
        ),
        .target(name: "QLoRAQuant", dependencies: ["QLoRACore", "QLoRAKernels"], path: "Sources/QLoRAQuant"),
        .target(
            name: "QLoRAFormats", dependencies: ["QLoRACore", "QLoRAQuant"], path: "Sources/QLoRAFormats"
        ),
        .target(
            name: "QLoRAModel", dependencies: ["QLoRACore", "QLoRAKernels", "QLoRAQuant", "QLoRAFormats"],
            path: "Sources/QLoRAModel"
        ),
        .target(
            name: "QLoRATrain",
            dependencies: ["QLoRACore", "CZstd", "QLoRAKernels", "QLoRAQuant", "QLoRAFormats", "QLoRAModel", "QLoRATokenizer"],
            path: "Sources/QLoRATrain"
        ),
        .target(
            name: "QLoRABoard",
            dependencies: ["QLoRACore", "QLoRATrain", .product(name: "FlyingFox", package: "FlyingFox")],
            path: "Sources/QLoRABoard"
        ),
        .target(
            name: "QLoRABench", dependencies: ["QLoRACore", "QLoRAKernels", "QLoRAQuant"],
            path: "Sources/QLoRABench"
        ),
        .target(
            name: "QLoRAPlan", dependencies: ["QLoRACore", "QLoRAFormats"], path: "Sources/QLoRAPlan"
        ),
        .target(
            name: "QLoRATokenizer", dependencies: ["QLoRACore", "QLoRAFormats"],
            path: "Sources/QLoRATokenizer"
        ),

        // MARK: Tests
        .target(name: "QLoRATestSupport", dependencies: ["QLoRA"], path: "Sources/QLoRATestSupport"),
        .testTarget(
            name: "QLoRAQuantTests", dependencies: ["QLoRA", "QLoRATestSupport"],
            path: "Tests/QLoRAQuantTests"
        ),
        .testTarget(
            name: "QLoRAKernelsTests", dependencies: ["QLoRA", "QLoRATestSupport"],
            path: "Tests/QLoRAKernelsTests"
        ),
        .testTarget(
            name: "QLoRAModelTests", dependencies: ["QLoRA", "QLoRATestSupport"],
            path: "Tests/QLoRAModelTests"
        ),
        .testTarget(
            name: "QLoRATrainTests", dependencies: ["QLoRA", "QLoRATestSupport"],
            path: "Tests/QLoRATrainTests"
        ),
        .testTarget(
            name: "QLoRAFormatsTests", dependencies: ["QLoRA", "QLoRATestSupport"],
            path: "Tests/QLoRAFormatsTests"
        ),
        .testTarget(
            name: "QLoRAPlanTests", dependencies: ["QLoRA", "QLoRATestSupport"],
            path: "Tests/QLoRAPlanTests"
        ),
        .testTarget(
            name: "QLoRATokenizerTests", dependencies: ["QLoRA", "QLoRATestSupport"],
            path: "Tests/QLoRATokenizerTests"
        ),
        .testTarget(
            name: "qloraCLITests", dependencies: ["qlora", "QLoRA", "QLoRABoard", "QLoRATestSupport"],
            path: "Tests/qloraCLITests"
        ),
    ],
    // Swift 5 mode: the numeric core shares raw buffers across threads by design (disjoint tiles);
    // Swift 6's strict sendability checking would force copies or unchecked wrappers everywhere.
    swiftLanguageModes: [.v5]
)

// MARK: Fuzzing (tools/fuzz.sh only)
// The libFuzzer harness is added only when QLORA_FUZZ=1, so `swift build` and `swift test` never
// see it; tools/fuzz.sh builds it with --sanitize=fuzzer,address in its own scratch path.
if Context.environment["QLORA_FUZZ"] == "1" {
    package.targets += [
        .executableTarget(name: "qlora-fuzz", dependencies: ["QLoRA"], path: "Fuzz/Sources/qlora-fuzz"),
    ]
}
