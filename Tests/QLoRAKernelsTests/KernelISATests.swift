import QLoRA
import Testing

/// `QLORA_ISA`: the names it accepts, and the refusal of a path the CPU lacks.
@Suite struct KernelISATests {
    @Test func acceptsEachPathThisCPUHas() throws {
        #expect(try KernelISA.parseOverride("scalar").get() == .reference)
        #expect(try KernelISA.parseOverride("reference").get() == .reference)
        #expect(try KernelISA.parseOverride(nil).get() == nil)
        #expect(try KernelISA.parseOverride("").get() == nil)
        if KernelISA.avx2.isAvailable { #expect(try KernelISA.parseOverride("AVX2").get() == .avx2) }
        if KernelISA.avx512.isAvailable { #expect(try KernelISA.parseOverride("avx512").get() == .avx512) }
    }

    @Test func refusesUnknownNamesAndMissingPathsInOneLine() {
        for name in ["avx1024", "sse", "avx2 avx512"] {
            guard case .failure(let e) = KernelISA.parseOverride(name) else {
                Issue.record("\(name) accepted")
                continue
            }
            #expect(e.message.contains("QLORA_ISA"))
            #expect(!e.message.contains("\n"))
        }
        for isa in [KernelISA.avx2, .avx512] where !isa.isAvailable {
            guard case .failure(let e) = KernelISA.parseOverride(isa.rawValue) else {
                Issue.record("\(isa) accepted on a CPU without it")
                continue
            }
            #expect(e.message.contains("this CPU has no"))
        }
    }

    @Test func theChosenPathCapsEveryDispatch() {
        #expect(KernelISA.best.isSupported)
        #expect(KernelISA.reference.isSupported)
        for isa in KernelISA.allCases where isa.isSupported { #expect(isa.isAvailable) }
        if case .success(let forced?) = KernelISA.requested { #expect(KernelISA.best == forced) }
    }
}
