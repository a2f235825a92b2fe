import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Resume says when the checkpointed run's products were computed otherwise (dtype, kernel path);
/// a field the checkpoint lacks is unknown, so nothing is guessed. Checkpoints keep the kernel path.
@Suite struct ResumeArithmeticTests {
    static let avx512BF16 = KernelPath(isa: "avx512", bf16: "avx512bf16")
    static let avx512BF16SkylakeX = KernelPath(isa: "avx512", bf16: "avx512bf16", openblasCore: "SkylakeX")

    @Test func samePathOrUnknownSaysNothing() {
        #expect(ResumeArithmetic.warning(step: 3, checkpointDType: "bf16", checkpointPath: Self.avx512BF16,
                                         dtype: "bf16", path: Self.avx512BF16) == nil)
        #expect(ResumeArithmetic.warning(step: 3, checkpointDType: "bf16", checkpointPath: nil,
                                         dtype: "bf16", path: KernelPath(isa: "avx2", bf16: "avx2")) == nil)
        #expect(ResumeArithmetic.warning(step: 3, checkpointDType: nil, checkpointPath: nil,
                                         dtype: "f32", path: KernelPath(isa: "scalar")) == nil)
    }

    @Test func anotherISAOrBF16VariantIsSaid() throws {
        let isa = try #require(ResumeArithmetic.warning(step: 3, checkpointDType: "f32", checkpointPath: KernelPath(isa: "avx512"),
                                                        dtype: "f32", path: KernelPath(isa: "avx2")))
        #expect(isa == "checkpoint step 3 ran on kernel path avx512, this run on avx2: "
                + "the continuation is not bit-identical to an uninterrupted run (another CPU or QLORA_ISA)")
        // Same ISA, bf16 on vdpbf16ps vs the Float32 kernels (an AVX-512 CPU without AVX512-BF16).
        let variant = try #require(ResumeArithmetic.warning(step: 5, checkpointDType: "bf16", checkpointPath: Self.avx512BF16,
                                                            dtype: "bf16", path: KernelPath(isa: "avx512", bf16: "avx512")))
        #expect(variant.contains("kernel path avx512 (bf16 on vdpbf16ps), this run on avx512 (bf16 on Float32 avx512 kernels)"), "\(variant)")
    }

    /// OpenBLAS's core: another one is said with its own hint; a side that names none (an older checkpoint) is unknown.
    @Test func anotherOpenBLASCoreIsSaidAndAnUnknownOneIsNot() throws {
        let skylake = KernelPath(isa: "avx512", openblasCore: "SkylakeX")
        let haswell = KernelPath(isa: "avx512", openblasCore: "Haswell")
        let core = try #require(ResumeArithmetic.warning(step: 4, checkpointDType: "f32", checkpointPath: skylake,
                                                         dtype: "f32", path: haswell))
        #expect(core == "checkpoint step 4 ran on kernel path avx512 (OpenBLAS SkylakeX), this run on avx512 (OpenBLAS Haswell): "
                + "the continuation is not bit-identical to an uninterrupted run (another CPU or QLORA_BLAS_CORETYPE)")
        #expect(ResumeArithmetic.warning(step: 4, checkpointDType: "f32", checkpointPath: skylake, dtype: "f32", path: skylake) == nil)
        #expect(ResumeArithmetic.warning(step: 4, checkpointDType: "f32", checkpointPath: KernelPath(isa: "avx512"),
                                         dtype: "f32", path: haswell) == nil)
        // Both the path and the core: one line, both causes in the hint.
        let both = try #require(ResumeArithmetic.warning(step: 4, checkpointDType: "bf16",
                                                         checkpointPath: KernelPath(isa: "avx512", bf16: "avx512bf16", openblasCore: "SkylakeX"),
                                                         dtype: "bf16", path: KernelPath(isa: "avx2", bf16: "avx2", openblasCore: "Haswell")))
        #expect(both.contains("kernel path avx512 (bf16 on vdpbf16ps, OpenBLAS SkylakeX), this run on avx2 (bf16 on Float32 avx2 kernels, OpenBLAS Haswell)"),
                "\(both)")
        #expect(both.hasSuffix("(another CPU, QLORA_ISA or QLORA_BLAS_CORETYPE)"), "\(both)")
    }

    /// The running path names the core OpenBLAS reported for this process.
    @Test func theRunningPathNamesOpenBLASsCore() throws {
        guard let blas = BLAS.shared else {
            print("skipped: OpenBLAS not found")
            return
        }
        #expect(KernelPath.running(.f32).openblasCore == (blas.coreName == "unknown" ? nil : blas.coreName))
        #expect(KernelPath.running(.f32).openblasCore != nil, "OpenBLAS \(blas.libraryName) did not name its core")
    }

    @Test func anotherComputeTypeIsTheOneLineSaid() throws {
        let w = try #require(ResumeArithmetic.warning(step: 2, checkpointDType: "f32", checkpointPath: KernelPath(isa: "avx512"),
                                                      dtype: "bf16", path: Self.avx512BF16))
        #expect(w.hasPrefix("checkpoint step 2 was trained with --compute-dtype f32, this run computes in bf16"), "\(w)")
        #expect(!w.contains("kernel path"))
    }

    @Test func checkpointKeepsTheKernelPath() throws {
        let dir = TempDir("qlora-ckpt-path")
        let params = CheckpointTests.parameters(seed: 1)
        let opt = try CheckpointTests.optimizer(params, budgetFrames: nil, dir: dir.path)
        let position = CheckpointTests.Position(epoch: 0, offset: 1, order: [0])
        try Checkpoint.write(to: dir.path + "/with", optimizer: opt, step: 1, schedulerStep: 1, rngs: [:],
                             dataPosition: position, computeDType: "bf16", kernelPath: Self.avx512BF16SkylakeX)
        try Checkpoint.write(to: dir.path + "/without", optimizer: opt, step: 1, schedulerStep: 1, rngs: [:],
                             dataPosition: position, computeDType: "bf16")
        let with = try Checkpoint.read(from: dir.path + "/with", into: opt, dataPosition: CheckpointTests.Position.self)
        let without = try Checkpoint.read(from: dir.path + "/without", into: opt, dataPosition: CheckpointTests.Position.self)
        #expect(with.kernelPath == Self.avx512BF16SkylakeX)
        #expect(without.kernelPath == nil)
        let state = try String(contentsOfFile: dir.path + "/with/trainer_state.json", encoding: .utf8)
        #expect(state.contains("\"kernel_path\""), "\(state)")
        #expect(state.contains("\"openblas_core\""), "\(state)")
        // A kernel_path written before the core was recorded reads as an unknown core, not an error.
        let old = try JSONDecoder().decode(KernelPath.self, from: Data("{\"isa\": \"avx512\", \"bf16\": \"avx512bf16\"}".utf8))
        #expect(old == KernelPath(isa: "avx512", bf16: "avx512bf16"))
        #expect(old.openblasCore == nil)
    }
}
