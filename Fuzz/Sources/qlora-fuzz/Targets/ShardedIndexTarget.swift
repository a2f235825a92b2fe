import Foundation
import QLoRA

/// `model.safetensors.index.json`: the weight map, and every shard name it gives through the check
/// that keeps shard files inside the checkpoint directory.
enum ShardedIndexTarget {
    /// An existing directory for the containment check (nothing is created inside it).
    static let root: String = {
        let dir = NSTemporaryDirectory() + "/qlora-fuzz-index-root"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()

    static func run(_ data: UnsafeRawBufferPointer) {
        expectingCleanErrors("sharded-index") {
            let map = try HFCheckpoint.parseIndex(Data(data), path: "model.safetensors.index.json")
            for shard in Set(map.values).sorted() {
                expectingCleanErrors("sharded-index shard name") {
                    let path = try HFCheckpoint.containedPath(shard, in: root, index: "model.safetensors.index.json")
                    precondition(!shard.hasPrefix("/") && !shard.split(separator: "/").contains(".."),
                                 "shard name '\(shard)' was accepted: \(path)")
                }
            }
        }
    }
}
