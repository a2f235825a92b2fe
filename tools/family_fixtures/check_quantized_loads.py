"""Loads directories written by `qlora quantize` from the family fixtures with transformers +
bitsandbytes as pre-quantized 4-bit models and compares their Float32-path logits with the
fixture's bitsandbytes answers (same NF4 codec, so the logits agree when the 4-bit weights do).
Usage: check_quantized_loads.py FIXTURES_DIR family=QUANTIZED_DIR ...  (in a venv with torch, transformers, peft and bitsandbytes).
The 4-bit weights are dequantized with bitsandbytes' flattened blocks, as the fixtures' answers were
(make_family_fixtures.py: its AVX-512 CPU kernel is wrong when rows do not hold whole blocks)."""
import json, os, sys
import torch, bitsandbytes as bnb
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_family_fixtures import use_flat_block_dequantize

use_flat_block_dequantize()

fixtures = sys.argv[1]
for arg in sys.argv[2:]:
    fam, d = arg.split("=", 1)
    m = AutoModelForCausalLM.from_pretrained(d, device_map="cpu", dtype=torch.float32)
    n4 = sum(1 for _, x in m.named_modules() if isinstance(x, bnb.nn.Linear4bit))
    for p in m.parameters():
        if p.dtype == torch.bfloat16:
            p.data = p.data.float()
    m.train()
    exp = json.load(open(f"{fixtures}/{fam}/expected.json"))
    worst = 0.0
    with torch.no_grad():
        for row in exp["nf4"]:
            logits = m(torch.tensor([row["ids"]])).logits[0].flatten()
            worst = max(worst, (logits - torch.tensor(row["logits"])).abs().max().item())
    names = sorted({n.split(".")[-1] for n, x in m.named_modules() if isinstance(x, bnb.nn.Linear4bit)})
    print(f"{fam}: {type(m).__name__}, {n4} Linear4bit modules ({', '.join(names)}), max |logit - bitsandbytes fixture| {worst:.2e}")
