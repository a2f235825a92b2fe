"""Loads an adapter written by `qlora train` with PEFT onto its base model (a family fixture's
Float32 weights) and checks that PEFT found every tensor under the names and shapes it expects (for
Phi-3: `qkv_proj` / `gate_up_proj`, lora_B of the fused output size) and that the adapter changes the
logits. Usage (in a venv with torch, transformers and peft):
    check_peft_adapter.py BASE_DIR ADAPTER_DIR"""
import sys
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
from peft import PeftModel, set_peft_model_state_dict

base_dir, adapter_dir = sys.argv[1], sys.argv[2]
base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
ids = torch.tensor([[1, 17, 42, 99, 5, 63, 120, 7]])
with torch.no_grad():
    before = base(ids).logits
model = PeftModel.from_pretrained(base, adapter_dir)
# Load the file again by hand to see PEFT's own verdict on every key.
result = set_peft_model_state_dict(model, load_file(adapter_dir + "/adapter_model.safetensors"))
unexpected = list(result.unexpected_keys)
missing_lora = [k for k in result.missing_keys if "lora_" in k]
shapes = {n: tuple(p.shape) for n, p in model.named_parameters() if "lora_" in n and ".0." in n}
with torch.no_grad():
    after = model(ids).logits
print("target_modules", sorted(model.peft_config["default"].target_modules))
for n, s in sorted(shapes.items()):
    print(" ", n, s)
print(f"unexpected keys {len(unexpected)}, missing lora keys {len(missing_lora)}, "
      f"max |Δlogit| adapter vs base {(after - before).abs().max().item():.4f}")
assert not unexpected and not missing_lora and (after - before).abs().max().item() > 0
