import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Resume says when the checkpointed run's products were computed otherwise (dtype, kernel path);
/// a field the checkpoint lacks is unknown, so nothing is guessed. Checkpoints keep the kernel path.
@Suite struct ResumeArithmeticTests {
    static let avx512BF16 = KernelPath(isa: "avx512", bf16: "avx512bf16")

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
                             dataPosition: position, computeDType: "bf16", kernelPath: Self.avx512BF16)
        try Checkpoint.write(to: dir.path + "/without", optimizer: opt, step: 1, schedulerStep: 1, rngs: [:],
                             dataPosition: position, computeDType: "bf16")
        let with = try Checkpoint.read(from: dir.path + "/with", into: opt, dataPosition: CheckpointTests.Position.self)
        let without = try Checkpoint.read(from: dir.path + "/without", into: opt, dataPosition: CheckpointTests.Position.self)
        #expect(with.kernelPath == Self.avx512BF16)
        #expect(without.kernelPath == nil)
        let state = try String(contentsOfFile: dir.path + "/with/trainer_state.json", encoding: .utf8)
        #expect(state.contains("\"kernel_path\""), "\(state)")
    }
}
