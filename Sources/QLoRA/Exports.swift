// The umbrella module: `import QLoRA` brings every library module.
@_exported import QLoRACore
@_exported import QLoRAFormats
@_exported import QLoRAKernels
@_exported import QLoRAPlan
@_exported import QLoRAQuant
@_exported import QLoRATokenizer
@_exported import QLoRABench
@_exported import QLoRAModel
@_exported import QLoRATrain
