import QLoRA

/// Paths the tests read: the read-only reference data in ../shared/golden and the fetched model.
public enum TestPaths {
    /// The repository root (two levels above this file's folder).
    public static let repoRoot: String = {
        var p = #filePath
        for _ in 0..<3 { p = String(p[..<p.lastIndex(of: "/")!]) }
        return p
    }()

    /// `../shared/golden` beside the repository (QLORA_GOLDEN overrides).
    public static var golden: String {
        if let g = Environment.get("QLORA_GOLDEN") { return g }
        return repoRoot + "/../shared/golden"
    }

    /// The SmolLM2 GGUF fetched by tools/fetch_model.sh (QLORA_MODEL overrides).
    public static var smolLM2GGUF: String {
        if let m = Environment.get("QLORA_MODEL") { return m }
        return repoRoot + "/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    }
}

