#!/usr/bin/env python3
"""bf16 compute against the published method: the mean loss of `qlora eval --compute-dtype bf16`
against transformers + bitsandbytes with bnb_4bit_compute_dtype=bfloat16 on the same NF4 weights
(nf4, double quant, block 64, quantized by both from the same Float32 checkpoint), same tokens,
same windows. Float32 on both sides is reported beside it as the control.

usage (venv with torch, transformers, bitsandbytes; an HF checkpoint made by
../shared/reference/peer/convert_gguf.py from the same GGUF):
  python tools/bf16_vs_bnb.py --hf DIR --model models/SmolLM2-135M-Instruct.Q4_1.gguf \
      [--qlora .build/release/qlora] [--text /usr/share/common-licenses/GPL-3] [--context 256] [--windows 8]
Prints one JSON object; exit 1 when |bf16 loss difference| > 0.5%.
"""
import argparse, json, math, subprocess, sys

p = argparse.ArgumentParser()
p.add_argument("--hf", required=True)
p.add_argument("--model", required=True)
p.add_argument("--qlora", default=".build/release/qlora")
p.add_argument("--text", default="/usr/share/common-licenses/GPL-3")
p.add_argument("--context", type=int, default=256)
p.add_argument("--windows", type=int, default=8)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--tolerance", type=float, default=0.005)
a = p.parse_args()

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
torch.set_num_threads(a.threads)


def qlora_loss(dtype):
    out = subprocess.run([a.qlora, "eval", "--model", a.model, "--data", a.text, "--context", str(a.context),
                          "--max-windows", str(a.windows), "--threads", str(a.threads), "--compute-dtype", dtype, "--json"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    return r.get("meanLoss", r.get("mean_loss")), r


def bnb_loss(dtype):
    cfg = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                             bnb_4bit_compute_dtype=getattr(torch, dtype))
    model = AutoModelForCausalLM.from_pretrained(a.hf, quantization_config=cfg, dtype=torch.float32, device_map="cpu")
    # Train mode under no_grad, as the peer benchmark does: in eval mode bitsandbytes repacks the
    # weights for its CPU inference kernels (a different path from the one training runs).
    model.train()
    tok = AutoTokenizer.from_pretrained(a.hf)
    ids = tok(open(a.text, encoding="utf-8").read(), add_special_tokens=False).input_ids
    n = min(a.windows, len(ids) // a.context)
    total, count = 0.0, 0
    with torch.no_grad():
        for w in range(n):
            x = torch.tensor(ids[w * a.context:(w + 1) * a.context]).view(1, -1)
            logits = model(input_ids=x).logits.float()[0]
            nll = torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:], reduction="sum").item()
            total += nll
            count += a.context - 1
    return total / count, count


res = {"text": a.text, "context": a.context, "windows": a.windows}
for ours, theirs in [("f32", "float32"), ("bf16", "bfloat16")]:
    q, raw = qlora_loss(ours)
    b, count = bnb_loss(theirs)
    res[ours] = {"qlora_loss": q, "bnb_loss": b, "relative_difference": (q - b) / b, "predictions_bnb": count,
                 "predictions_qlora": raw.get("predictions")}
print(json.dumps(res, indent=2))
sys.exit(0 if abs(res["bf16"]["relative_difference"]) <= a.tolerance else 1)
