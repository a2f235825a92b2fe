#!/usr/bin/env python3
"""Writes Tests/Fixtures/nf4_f32path.json from the outputs of nf4_repro.py (see COMMANDS.md).

The reference is bitsandbytes' true Float32 NF4 path (dequantize + F.linear: model.train() or an input
that requires grad). The golden ../shared/golden/smollm2/nf4_forward_ref.safetensors was made in
eval + no_grad mode, where bitsandbytes 0.50 on an AVX512-BF16 CPU runs its fused bf16 kernel instead
(bf16 x, bf16 code table, bf16 absmax, bf16 output; see kernel_emul2.py), so a Float32 engine cannot
match it. To keep the fixture small, each of the 16 rows keeps its full-vocabulary mean (for the
centred comparison) and the logits of 64 fixed ids plus its 64 largest.
Usage: make_fixture.py OUTDIR_OF_NF4_REPRO REPO_ROOT
"""
import json, sys
import numpy as np

src, root = sys.argv[1], sys.argv[2]
out = {"source": "bitsandbytes 0.50.2 + transformers 5.24.0 + torch 2.15.0, model.train() + no_grad "
                  "(dequantize + F.linear, Float32), SmolLM2 Q4_1 GGUF converted to HF float32, "
                  "first 256 tokens of Debian's Apache-2.0; MKL forced onto its Intel path (fakeintel.c)"}
fixed = list(range(0, 49152, 768))
for key, name in (("dq", "nf4_f32path"), ("plain", "nf4plain_f32path")):
    logits = np.load(f"{src}/{name}_logits_first16.npy").astype(np.float64)
    loss = json.load(open(f"{src}/{name}_loss.json"))["loss_hf"]
    rows = []
    for p in range(16):
        row = logits[p]
        ids = sorted(set(fixed) | set(np.argsort(-row)[:64].tolist()))
        rows.append({"mean": float(row.mean()), "ids": ids, "logits": [float(row[i]) for i in ids]})
    out[key] = {"loss": loss, "rows": rows}
json.dump(out, open(f"{root}/Tests/Fixtures/nf4_f32path.json", "w"))
