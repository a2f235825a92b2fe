import Foundation
import QLoRACore

/// PyTorch pickle files (`pytorch_model.bin`, `*.pt`, `*.pth`, `*.ckpt`, `*.pkl`) are never opened:
/// unpickling runs code chosen by whoever made the file. These checks turn "not a checkpoint" into
/// a refusal that says why and what to use instead (safetensors).
public enum PickleRefusal {
    public static let extensions: Set<String> = ["bin", "pt", "pth", "ckpt", "pkl", "pickle"]
    static let hint = "PyTorch pickle files are never read (unpickling can run arbitrary code); convert it to safetensors (e.g. save_pretrained(..., safe_serialization=True))"

    /// Throws when `path` names a pickle file.
    public static func checkFile(_ path: String) throws {
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        if extensions.contains(ext) { throw QLoRAError.unsupported(path, hint) }
    }

    /// Throws when the checkpoint directory `dir` has no safetensors weights but pickle files.
    public static func checkDirectory(_ dir: String) throws {
        for name in ["model.safetensors", "model.safetensors.index.json"]
            where FileManager.default.fileExists(atPath: dir + "/" + name) { return }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
        if let pickle = names.first(where: { extensions.contains(URL(fileURLWithPath: $0).pathExtension.lowercased()) }) {
            throw QLoRAError.unsupported(dir + "/" + pickle, hint)
        }
    }
}
