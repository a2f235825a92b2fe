"""Loads directories written by `qlora quantize` from the family fixtures with transformers +
bitsandbytes as pre-quantized 4-bit models and compares their Float32-path logits with the
fixture's bitsandbytes answers (same NF4 codec, so the logits agree when the 4-bit weights do).
With an adapter directory (written by `qlora train` on the same model), also loads it with PEFT
onto the 4-bit model and reports the adapter keys PEFT did not use (names or shapes that do not fit).
Usage: check_quantized_loads.py FIXTURES_DIR family=QUANTIZED_DIR[,ADAPTER_DIR] ...
(in a venv with torch, transformers, peft and bitsandbytes).
The 4-bit weights are dequantized with bitsandbytes' flattened blocks, as the fixtures' answers were
(make_family_fixtures.py: its AVX-512 CPU kernel is wrong when rows do not hold whole blocks)."""
import json, os, sys
import torch, bitsandbytes as bnb
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_family_fixtures import use_flat_block_dequantize

use_flat_block_dequantize()

fixtures = sys.argv[1]
for arg in sys.argv[2:]:
    fam, dirs = arg.split("=", 1)
    d, _, adapter = dirs.partition(",")
    wrapper = json.load(open(f"{d}/config.json")).get("model_type") == "gemma3"
    Auto = AutoModelForImageTextToText if wrapper else AutoModelForCausalLM
    m = Auto.from_pretrained(d, device_map="cpu", dtype=torch.float32)
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
    if adapter:
        from peft import PeftModel
        from safetensors.torch import load_file
        saved = load_file(f"{adapter}/adapter_model.safetensors")
        pm = PeftModel.from_pretrained(m, adapter)
        live = {k: v for k, v in pm.state_dict().items() if "lora_" in k}
        # PEFT's live keys carry the adapter name (`.default.`); the file's do not.
        used = {k.replace(".default", "") for k in live}
        unused = [k for k in saved if k not in used]
        wrong = [k for k in saved if k in used and tuple(saved[k].shape) != tuple(live[k.replace(".lora_A.", ".lora_A.default.").replace(".lora_B.", ".lora_B.default.")].shape)]
        print(f"{fam}: adapter {len(saved)} tensors, {len(unused)} not used by PEFT, {len(wrong)} with another shape"
              + (f" (first unused: {unused[0]})" if unused else ""))
