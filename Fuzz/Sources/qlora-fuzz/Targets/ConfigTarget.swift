import Foundation
import QLoRA

/// A Hugging Face `config.json` (`LlamaConfig`), and the sizes memplan and the loader derive from it.
enum ConfigTarget {
    static func run(_ data: UnsafeRawBufferPointer) {
        expectingCleanErrors("config") {
            let config = try LlamaConfig.decode(Data(data), path: "config.json")
            _ = config.totalParameters
            _ = config.layerLinears
            for linear in LlamaLinear.allCases { _ = linear.features(config) }
        }
    }
}
