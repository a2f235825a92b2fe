# Emulate bnb 0.50.2's CPU fused NF4 kernel (tinygemm_kernel_nn, AVX512-BF16) in float64 and compare with the real kernel.
import os
import torch, bitsandbytes as bnb, bitsandbytes.functional as F
from safetensors.torch import load_file
torch.set_num_threads(1); torch.manual_seed(0)
sd = load_file(os.environ.get("NF4REF_CKPT", "smollm2-hf") + "/model.safetensors")
code = F.get_4bit_type("nf4", device="cpu")
for wname in ["model.layers.0.mlp.down_proj.weight", "model.layers.3.self_attn.q_proj.weight"]:
  W = sd[wname]; N, K = W.shape
  x = torch.randn(37, K)
  for nested in (False, True):
    p = bnb.nn.Params4bit(W.clone(), requires_grad=False, compress_statistics=nested, quant_type="nf4", blocksize=64).to("cpu")
    qs = p.quant_state
    absmax = (F.dequantize_blockwise(qs.absmax, qs.state2) + qs.offset) if nested else qs.absmax.clone()
    Wdq = F.dequantize_4bit(p.data, qs)
    idx = torch.bucketize((Wdq.reshape(-1, 64) / absmax[:, None]).clamp(-1, 1), (code[1:] + code[:-1]) / 2).reshape(N, K // 64, 64)
    lin = bnb.nn.Linear4bit(K, N, bias=False, compute_dtype=torch.float32, compress_statistics=nested, quant_type="nf4")
    lin.weight = p; lin.eval()
    with torch.no_grad():
        yf = lin(x)                                      # real fused kernel (repacks first)
    xb = x.bfloat16().double().reshape(-1, K // 64, 64)  # activations rounded to bf16
    cb = code.bfloat16().double()[idx]                   # NF4 code rounded to bf16 (kernel LUT)
    s = absmax.bfloat16().double().reshape(N, K // 64)   # absmax rounded to bf16
    blk = torch.einsum("mbk,nbk->mnb", xb, cb)           # per-64-block dot products (dpbf16 accumulation, approx. exact here)
    # f32 fma chain over blocks in order: acc = fma(blk_b, s_b, acc)
    acc = torch.zeros(x.shape[0], N, dtype=torch.float32)
    for b in range(K // 64):
        acc = (blk[:, :, b] * s[:, b] + acc.double()).float()
    y = acc.bfloat16().float()
    print(f"{wname.split('layers.')[1]:<28} nested={nested!s:<5} exact-match {(y == yf).float().mean().item():.5f}  max|Δ| {(y - yf).abs().max().item():.3e}  max|y| {yf.abs().max().item():.2f}")
