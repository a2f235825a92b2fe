/// Base-model weights: NF4 linears and their constants (QLoRA), or 16-/32-bit linears (other
/// methods), plus the parts never quantized — embeddings, lm_head, norms, biases, MoE routers.
///
/// NF4 layout per bitsandbytes (`shared/reference/bitsandbytes-nf4.md` §1.4–1.6): two 4-bit codes
/// per byte; one absmax per 64 weights, f32 (0.5 bit/param) or, with double quantization, a u8 code
/// plus one f32 nested absmax per 256 blocks and a mean offset (0.127 bit/param).
enum WeightBuffers {
    static let blockSize = 64
    static let nestedBlockSize = 256
    /// Entries of the NF4 code table and of the signed 8-bit dynamic map (bnb keeps both per tensor).
    static let nf4CodeEntries = 16
    static let dynamicMapEntries = 256

    static func add(to table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest, shards: Int) {
        if request.quantizedBase {
            // torchtune quantizes only the linears that carry an adapter; the rest stay dense.
            let quantized = request.device == .gpu && request.stack == .torchtune && request.method == .qlora
                ? Projection.allCases.filter { request.targets.projections.contains($0) }
                : Projection.allCases
            addQuantizedLinears(to: &table, d, request, shards: shards, projections: quantized)
            let dense = Projection.allCases.filter { !quantized.contains($0) }
            if !dense.isEmpty { addDenseLinears(to: &table, d, request, shards: shards, projections: dense) }
        } else {
            addDenseLinears(to: &table, d, request, shards: shards, projections: Projection.allCases)
        }
        addUnquantizedParts(to: &table, d, request, shards: shards)
    }

    /// Storage of linears and embeddings that are kept dense: the compute dtype on GPU (how HF loads
    /// a bf16 model), f32 on the CPU trainer.
    static func denseType(_ request: PlanRequest) -> StorageType {
        request.device == .cpu ? .f32 : request.computeDType.storage
    }

    private static func addQuantizedLinears(
        to table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest, shards: Int, projections: [Projection]
    ) {
        var linear = 0
        var tensors = 0
        // bitsandbytes keeps the constants in quant_state, which FSDP does not manage: every GPU
        // holds all of them (torchao's NF4Tensor carries them inside the sharded parameter).
        let constantShards = request.device == .gpu && !request.stack.shardsQuantConstants ? 1 : shards
        for p in projections {
            let (out, inp) = d.shape(p)
            let (prefix, prefixAxes) = d.layerPrefix(p)
            let (outAxis, inAxis) = d.axes(p)
            let n = out * inp
            let blocks = (n + blockSize - 1) / blockSize
            linear += n * prefix.reduce(1, *)
            tensors += prefix.reduce(1, *)
            table.add(PlannedBuffer(
                "base.\(p.rawValue).nf4", .quantizedWeights, shape: prefix + [out, inp],
                axes: prefixAxes + [outAxis, inAxis], .nf4, shards: shards,
                note: "\(p.moduleName) codes, two per byte"))
            if request.doubleQuant {
                let nested = (blocks + nestedBlockSize - 1) / nestedBlockSize
                table.add(PlannedBuffer(
                    "base.\(p.rawValue).qabsmax", .quantConstants, shape: prefix + [blocks],
                    axes: prefixAxes + ["\(outAxis)·\(inAxis)/64"], .u8, shards: constantShards,
                    note: "8-bit code of each 64-block absmax"))
                table.add(PlannedBuffer(
                    "base.\(p.rawValue).nested_absmax", .quantConstants, shape: prefix + [nested + 1],
                    axes: prefixAxes + ["blocks/256+1"], .f32, shards: constantShards,
                    note: "f32 absmax per 256 blocks, plus the mean offset"))
            } else {
                table.add(PlannedBuffer(
                    "base.\(p.rawValue).absmax", .quantConstants, shape: prefix + [blocks],
                    axes: prefixAxes + ["\(outAxis)·\(inAxis)/64"], .f32, shards: constantShards,
                    note: "f32 absmax per 64-weight block"))
            }
        }
        let mapEntries = nf4CodeEntries + (request.doubleQuant ? dynamicMapEntries : 0)
        if request.device == .gpu {
            table.add(PlannedBuffer(
                "base.code_maps", .quantConstants, shape: [tensors, mapEntries],
                axes: ["tensors", "maps"], .f32, shards: constantShards,
                note: "bitsandbytes keeps quant_map (and nested_quant_map) per tensor"))
        } else {
            table.add(PlannedBuffer(
                "base.code_maps", .quantConstants, shape: [mapEntries], axes: ["maps"], .f32,
                note: "NF4 code table and 8-bit dynamic map, shared by every tensor"))
        }
        table.explain(.quantizedWeights,
                      "\(CountFormat.format(linear)) linear params × 4 bits (two codes per byte)")
        table.explain(.quantConstants, request.doubleQuant
            ? "double quant: u8 code per 64 weights + f32 per 256 blocks = 0.127 bit/param, + code maps"
            : "f32 absmax per 64 weights = 0.5 bit/param, + code maps")
    }

    private static func addDenseLinears(
        to table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest, shards: Int, projections: [Projection]
    ) {
        let type = denseType(request)
        var linear = 0
        for p in projections {
            let (out, inp) = d.shape(p)
            let (prefix, prefixAxes) = d.layerPrefix(p)
            let (outAxis, inAxis) = d.axes(p)
            linear += out * inp * prefix.reduce(1, *)
            table.add(PlannedBuffer(
                "base.\(p.rawValue).weight", .unquantizedWeights, shape: prefix + [out, inp],
                axes: prefixAxes + [outAxis, inAxis], type, shards: shards,
                note: "\(p.moduleName) weight, \(type.rawValue)"))
        }
        table.explain(.unquantizedWeights,
                      "\(CountFormat.format(linear)) linear params × \(type.bits / 8) B (\(type.rawValue))")
    }

    private static func addUnquantizedParts(
        to table: inout BufferTable, _ d: ModelDims, _ request: PlanRequest, shards: Int
    ) {
        let config = request.model.config
        let dense = denseType(request)
        let embedding = request.device == .cpu ? request.cpuEmbeddingDType : dense
        // qlora.py upcasts norms to f32; the CPU trainer computes in f32 anyway.
        let normType: StorageType = request.quantizedBase || request.device == .cpu ? .f32 : dense
        table.add(PlannedBuffer("embed.tokens", .unquantizedWeights, shape: [d.V, d.C], axes: ["V", "C"],
                                embedding, shards: shards, note: "token embeddings"))
        if !config.tieWordEmbeddings {
            table.add(PlannedBuffer("lm_head", .unquantizedWeights, shape: [d.V, d.C], axes: ["V", "C"],
                                    embedding, shards: shards, note: "output projection, never quantized"))
        }
        table.add(PlannedBuffer("norm.layers", .unquantizedWeights, shape: [d.L, 2, d.C],
                                axes: ["L", "2", "C"], normType, shards: shards,
                                note: "input and post-attention RMSNorm weights"))
        table.add(PlannedBuffer("norm.final", .unquantizedWeights, shape: [d.C], axes: ["C"], normType,
                                shards: shards, note: "final RMSNorm weight"))
        if config.attentionBias {
            table.add(PlannedBuffer("bias.qkv", .unquantizedWeights, shape: [d.L, d.QD + 2 * d.KVD],
                                    axes: ["L", "QD+2·KVD"], dense, shards: shards,
                                    note: "q/k/v projection biases"))
        }
        if d.E > 1 {
            table.add(PlannedBuffer("router", .unquantizedWeights, shape: [d.L, d.E, d.C],
                                    axes: ["L", "E", "C"], dense, shards: shards,
                                    note: "mixture-of-experts router"))
        }
        let head = config.tieWordEmbeddings ? "lm_head tied to embeddings" : "embeddings + lm_head V·C each"
        table.explain(.unquantizedWeights,
                      "\(head) (\(embedding.rawValue)), norms (2L+1)·C (\(normType.rawValue))"
                      + (config.attentionBias ? ", q/k/v biases" : ""))
    }
}
