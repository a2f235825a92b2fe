"""Loads a directory written by `qlora quantize` with transformers + bitsandbytes as a pre-quantized
4-bit model and prints its next token for a chat prompt. Usage: load_quantized_with_transformers.py OUT
(in the venv of COMMANDS.md)."""
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
d = sys.argv[1]
tok = AutoTokenizer.from_pretrained(d)
m = AutoModelForCausalLM.from_pretrained(d, device_map="cpu")
print("quantized modules:", sum(1 for n, x in m.named_modules() if type(x).__name__ == "Linear4bit"))
print("quant_type:", m.config.quantization_config.bnb_4bit_quant_type, "double quant:", m.config.quantization_config.bnb_4bit_use_double_quant)
msgs = [{"role": "user", "content": "What is the capital of France?"}]
ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")
if not torch.is_tensor(ids): ids = ids["input_ids"]
m.train()  # the Float32 dequantize + linear path (eval+no_grad would take bnb's bf16 kernel)
with torch.no_grad():
    logits = m(ids).logits[0, -1]
print("top token:", repr(tok.decode([int(logits.argmax())])), "logit", float(logits.max()))
