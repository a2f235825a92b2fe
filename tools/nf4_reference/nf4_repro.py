#!/usr/bin/env python3
"""Reproduce ../shared/golden/smollm2/nf4_forward_ref.safetensors under several bnb/transformers settings.

usage: nf4_repro.py sanity
       nf4_repro.py nf4 {dq|plain} {f32|none} MODE[,MODE...]
MODE (run in the given order in one process; the eval+no_grad mode repacks the weights permanently, so it goes last):
  train_nograd   model.train() + torch.no_grad()          -> dequantize_4bit + F.linear (fp32)
  eval_grad      model.eval(), autograd on (no no_grad)  -> embedding output requires grad -> dequantize + F.linear
  eval_nograd    model.eval() + torch.no_grad()           -> CPU repack + fused bf16 gemv_4bit
"""
import os
import sys, json, math
import numpy as np
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

torch.set_num_threads(int(__import__("os").environ.get("NT", "1")))
CK = os.environ.get("NF4REF_CKPT", "smollm2-hf") + ""
G = load_file(os.environ.get("NF4REF_GOLDEN", "../../shared/golden/smollm2") + "/forward_ref.safetensors")
R = load_file(os.environ.get("NF4REF_GOLDEN", "../../shared/golden/smollm2") + "/nf4_forward_ref.safetensors")
ids = G["input_ids"][None]


def cmp(name, logits16, loss, ref_logits, ref_loss):
    a = logits16.double(); b = ref_logits.double()
    d = ((a - a.mean(1, keepdim=True)) - (b - b.mean(1, keepdim=True))).abs()
    raw = (a - b).abs().max().item()
    print(f"{name:<40} max|Δc| {d.max().item():.3e}  pos0 {d[0].max().item():.3e}  raw max|Δ| {raw:.3e}  "
          f"loss {loss:.7f} ref {ref_loss:.7f} Δ {loss-ref_loss:+.2e}  argmax {logits16.argmax(-1).tolist()}", flush=True)


def run(model, grad):
    ctx = torch.enable_grad() if grad else torch.no_grad()
    with ctx:
        out = model(ids, labels=ids)
    lg = out.logits[0].detach().float()
    lp = torch.log_softmax(lg.double(), -1)
    ce64 = -lp[:-1].gather(1, ids[0, 1:, None])[:, 0].mean().item()
    return lg[:16].clone(), out.loss.item(), ce64


if sys.argv[1] == "sanity":
    m = AutoModelForCausalLM.from_pretrained(CK, dtype=torch.float32).eval()
    lg, loss, ce64 = run(m, False)
    cmp("float32 vs forward_ref", lg, loss, G["logits_first16"], G["loss"].item())
    sys.exit()

_, _, q, dt, modes = sys.argv
kw = dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32,
          bnb_4bit_use_double_quant=(q == "dq"))
load_kw = dict(quantization_config=BitsAndBytesConfig(**kw), device_map="cpu")
if dt == "f32":
    load_kw["dtype"] = torch.float32
m = AutoModelForCausalLM.from_pretrained(CK, **load_kw)
print("model dtype", m.dtype, "training", m.training, "embed dtype", m.model.embed_tokens.weight.dtype,
      "embed requires_grad", m.model.embed_tokens.weight.requires_grad,
      "q_proj compute_dtype", m.model.layers[0].self_attn.q_proj.compute_dtype, flush=True)
refl, refloss = R[f"nf4_{q}.logits_first16"], R[f"nf4_{q}.loss"].item()
for mode in modes.split(","):
    if mode == "train_nograd":
        m.train(); lg, loss, ce64 = run(m, False)
    elif mode == "eval_grad":
        m.eval(); lg, loss, ce64 = run(m, True)
    elif mode == "eval_nograd":
        m.eval(); lg, loss, ce64 = run(m, False)
    else:
        raise SystemExit(mode)
    packed = sum(1 for mod in m.modules() if getattr(getattr(getattr(mod, "weight", None), "quant_state", None), "packing_format_for_cpu", False))
    cmp(f"{q} dtype={dt} {mode} (packed {packed})", lg, loss, refl, refloss)
    print(f"   ce64 {ce64:.7f}", flush=True)
    np.save(f"out_{q}_{dt}_{mode}.npy", lg.numpy())
    json.dump({"loss_hf": loss, "ce64": ce64}, open(f"out_{q}_{dt}_{mode}.json", "w"))
