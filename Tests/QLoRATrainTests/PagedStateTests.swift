import Foundation
import QLoRA
import QLoRATestSupport
import Testing

/// Paged optimizer state: same bits as resident state, memory under the budget, compressed spill,
/// one-line errors.
@Suite struct PagedStateTests {
    /// Ragged sizes so pages span several parameters and parameters span several pages: 131 pages
    /// of AdamW state at 4 KiB (66 of Lion), several times the ~170 KiB of zstd contexts.
    static let sizes = [9000, 1, 7130, 30480, 31, 20000]
    static let smallPage = 4096

    struct Run {
        var values: [[UInt32]]
        var state: [UInt8]
        var stats: StatePager.Stats
    }

    static func parameters(_ sizes: [Int]) -> [Parameter] {
        var rng = SeededRNG(seed: 5)
        return sizes.enumerated().map { i, n in
            let name = i % 2 == 0 ? "layers.\(i).lora_A.weight" : "layers.\(i).lora_B.weight"
            return Parameter(name: name, shape: [n], values: (0..<n).map { _ in rng.nextNormal() * 0.1 })
        }
    }

    /// `steps` optimizer steps on fresh parameters with seeded gradients (every `sparsity`-th
    /// element nonzero), LoRA+ groups with decay and a warmup-then-cosine schedule.
    static func run(_ algorithm: OptimizerAlgorithm, memory: OptimizerMemory, steps: Int, sizes: [Int] = sizes,
                    sparsity: Int = 1) throws -> Run {
        let params = parameters(sizes)
        let opt = try Optimizer(groups: LoRAPlus.groups(params, ratio: 16, weightDecay: 0.01),
                                algorithm: algorithm, learningRate: 1e-3, memory: memory)
        defer { opt.close() }
        let schedule = try LRSchedule(.cosine, warmupSteps: 5, totalSteps: steps)
        var rng = SeededRNG(seed: 99)
        for step in 0..<steps {
            for p in params {
                for i in 0..<p.count { p.grad[i] = i % sparsity == 0 ? rng.nextNormal() : 0 }
            }
            GradientClipping.clipGlobalNorm(params, maxNorm: 1)
            try opt.step(lrFactor: schedule.factor(at: step))
            opt.zeroGrad()
        }
        var state: [UInt8] = []
        try opt.readState { _, bytes in state.append(contentsOf: bytes) }
        return Run(values: params.map { $0.values.map(\.bitPattern) }, state: state, stats: opt.memoryStats)
    }

    @Test(arguments: [OptimizerAlgorithm.adamW(), .lion()])
    func pagedEqualsUnpagedBitForBitOverFiftySteps(_ algorithm: OptimizerAlgorithm) throws {
        let dir = TempDir("qlora-paged")
        let layout = StateLayout(parameterCounts: Self.sizes, stateCount: algorithm.stateCount, pageBytes: Self.smallPage)
        let budget = StatePager.budget(frames: 2, pageCount: layout.pageCount, pageBytes: Self.smallPage)
        let paged = try Self.run(algorithm, memory: OptimizerMemory(pageBytes: Self.smallPage, budgetBytes: budget,
                                                                     spillPath: dir.path + "/optimizer.spill"), steps: 50)
        let resident = try Self.run(algorithm, memory: OptimizerMemory(pageBytes: Self.smallPage), steps: 50)
        #expect(layout.pageCount >= 60)
        #expect(paged.values == resident.values)
        #expect(paged.state == resident.state)
        #expect(paged.stats.isPaged && paged.stats.frameCount == 2)
        #expect(paged.stats.pagesWritten >= 50 * (layout.pageCount - 2))
        #expect(paged.stats.pagesRead >= 49 * (layout.pageCount - 2))
        #expect(paged.stats.peakResidentBytes <= budget)
        #expect(!resident.stats.isPaged && resident.stats.spillFileBytes == 0)
        #expect(resident.stats.frameCount == layout.pageCount)
        #expect(!dir.listing().contains("optimizer.spill"))  // removed when the optimizer closes
    }

    @Test func residentStateStaysUnderTheBound() throws {
        let dir = TempDir("qlora-paged")
        let pageBytes = 64 << 10
        let sizes = [120_000, 76_608, 131_072]  // 40 pages of AdamW state (2.5 MiB)
        let layout = StateLayout(parameterCounts: sizes, stateCount: 2, pageBytes: pageBytes)
        let budget = StatePager.budget(frames: 3, pageCount: layout.pageCount, pageBytes: pageBytes)
        let run = try Self.run(.adamW(), memory: OptimizerMemory(pageBytes: pageBytes, budgetBytes: budget,
                                                                 spillPath: dir.path + "/s.spill"),
                               steps: 3, sizes: sizes)
        #expect(layout.pageCount == 40)
        #expect(run.stats.peakResidentBytes <= budget)
        #expect(run.stats.frameCount == 3)
        #expect(run.stats.spilledRawBytes >= (40 - 3) * pageBytes)
        #expect(budget < layout.pageCount * pageBytes / 3)
    }

    @Test func spillFileIsCompressed() throws {
        let dir = TempDir("qlora-paged")
        let layout = StateLayout(parameterCounts: Self.sizes, stateCount: 2, pageBytes: Self.smallPage)
        let budget = StatePager.budget(frames: 2, pageCount: layout.pageCount, pageBytes: Self.smallPage)
        let run = try Self.run(.adamW(), memory: OptimizerMemory(pageBytes: Self.smallPage, budgetBytes: budget,
                                                                 spillPath: dir.path + "/s.spill"),
                               steps: 4, sparsity: 16)
        #expect(run.stats.spilledRawBytes == (layout.pageCount - 2) * Self.smallPage)
        #expect(run.stats.spilledBytes * 4 < run.stats.spilledRawBytes)
        #expect(run.stats.spillFileBytes * 2 < layout.pageCount * Self.smallPage)
    }

    @Test func budgetBelowTwoPagesIsAOneLineError() throws {
        let dir = TempDir("qlora-paged")
        let memory = OptimizerMemory(pageBytes: Self.smallPage, budgetBytes: 2 * Self.smallPage, spillPath: dir.path + "/s")
        do {
            _ = try Self.run(.adamW(), memory: memory, steps: 1)
            Issue.record("expected an error")
        } catch let e as QLoRAError {
            #expect(e.kind == .invalidArgument)
            #expect(e.message.hasPrefix("optimizer memory 0.01 MiB is below the minimum"))
            #expect(!e.message.contains("\n"))
        }
    }

    @Test func unwritableSpillDirectoryIsAOneLineError() throws {
        let memory = OptimizerMemory(pageBytes: Self.smallPage, budgetBytes: 256 << 10,
                                     spillPath: "/nonexistent-qlora/s.spill")
        #expect(throws: QLoRAError.io("/nonexistent-qlora/s.spill",
                                      "cannot create the optimizer spill file: No such file or directory")) {
            _ = try Self.run(.adamW(), memory: memory, steps: 1, sizes: [100_000])
        }
    }

    @Test func fullDiskIsAOneLineErrorAndPoisonsThePager() throws {
        let dir = TempDir("qlora-paged")
        let link = dir.path + "/full.spill"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/full")
        let params = Self.parameters(Self.sizes)
        let layout = StateLayout(parameterCounts: Self.sizes, stateCount: 2, pageBytes: Self.smallPage)
        let budget = StatePager.budget(frames: 2, pageCount: layout.pageCount, pageBytes: Self.smallPage)
        let opt = try Optimizer(groups: ParameterGroup.single(params), algorithm: .adamW(), learningRate: 1e-3,
                                memory: OptimizerMemory(pageBytes: Self.smallPage, budgetBytes: budget, spillPath: link))
        let expected = QLoRAError.io(link, "no space left on device")
        #expect(throws: expected) { try opt.step(lrFactor: 1) }
        #expect(throws: expected) { try opt.step(lrFactor: 1) }
        opt.close()
        #expect(FileManager.default.fileExists(atPath: "/dev/full"))
        #expect(!dir.listing().contains("full.spill"))
    }
}
