import Foundation

// `qlora-fuzz` runs one fuzz target under libFuzzer (whose `main` the binary uses): the environment
// variable QLORA_FUZZ_TARGET names it, so libFuzzer's -jobs/-workers child processes run the same
// target; every argument is libFuzzer's. `tools/fuzz.sh` builds and runs it.

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> Int32 {
    let name = ProcessInfo.processInfo.environment["QLORA_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTargets.all[name] else {
        let names = FuzzTargets.all.keys.sorted().joined(separator: ", ")
        FileHandle.standardError.write("qlora-fuzz: set QLORA_FUZZ_TARGET to one of: \(names)\n".data(using: .utf8)!)
        exit(2)
    }
    FuzzTargets.selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTargets.selected(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
