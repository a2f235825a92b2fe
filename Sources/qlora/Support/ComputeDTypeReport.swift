import Foundation
import QLoRA

/// Resolves `--compute-dtype` for a command and, for `auto`, says on stderr what it chose and why.
enum ComputeDTypeReport {
    nonisolated(unsafe) private static var said = false

    static func resolve(_ requested: ComputeDType) -> ComputeDType {
        let r = ComputeDTypeChoice.resolve(requested)
        if requested == .auto && !said {
            said = true
            FileHandle.standardError.write(Data("compute dtype: \(r.dtype.rawValue) (\(r.reason))\n".utf8))
        }
        return r.dtype
    }
}
