import ArgumentParser
import Foundation
import QLoRA

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Fold a LoRA adapter into its base and write a plain HF checkpoint for deployment.",
        discussion: "W' = dequantize(W) + (alpha/r)·B·A: the dequantized NF4 weight is what training saw. OUT appears complete or not at all."
    )

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .shortAndLong, help: "The output checkpoint directory.") var output: String
    @Option(help: "Stored dtype: f32, f16 or bf16.") var dtype: String = "f32"
    @Flag(help: "Replace OUT if it exists.") var overwrite = false

    func validate() throws {
        guard modelOptions.adapter != nil else { throw QLoRAError.invalid("--adapter is required (the adapter to merge)") }
        guard AdapterMerge.supportedDTypes[dtype] != nil else {
            throw QLoRAError.invalid("--dtype must be f32, f16 or bf16 (nf4 re-quantization and GGUF export are not implemented yet)")
        }
    }

    func run() throws {
        if FileManager.default.fileExists(atPath: output) && !overwrite {
            throw QLoRAError.io(output, "already exists (pass --overwrite to replace it)")
        }
        var options = modelOptions
        let adapterDir = options.adapter!
        options.adapter = nil
        let loaded = try LoadedModel.load(options)
        let adapter = try LoRAAdapterWeights.load(from: adapterDir, model: loaded.model.config)
        let input = try ModelInput.open(modelOptions.model)
        try AdapterMerge.write(loaded.model.weights, adapter, to: output, dtype: AdapterMerge.supportedDTypes[dtype]!,
                               extraFiles: input.tokenizerFiles)
        print("merged \(adapter.orderedModules.count) adapted linears into \(output) (\(dtype))")
    }
}
