"""Writes tiny random-weight models of each supported family, with transformers' answers, for the
family parity tests (Tests/QLoRAModelTests/FamilyParityTests.swift). Run by hand in a venv with torch, transformers, peft and bitsandbytes
(torch, transformers 5, bitsandbytes), not by CI:

    VENV/bin/python tools/family_fixtures/make_family_fixtures.py Tests/Fixtures/families [FAMILY ...]

(with FAMILY names, only those are rewritten; the others stay as they are)

Per family, in OUT/<family>/:
  model.safetensors      bf16 weights (exactly representable, read as Float32 by both sides)
  config.json            as transformers 5 writes it (`rope_parameters`)
  config.legacy.json     the same model in the older form (top-level `rope_theta` / `rope_scaling`)
  nf4/                   the same weights quantized by bitsandbytes (NF4, block 64, double quant),
                         saved pre-quantized by transformers (`save_pretrained`)
  expected.json          for a few sequences: Float32 logits, mean loss, greedy continuation (KV cache),
                         and the logits of transformers + bitsandbytes on the nf4/ weights (Float32
                         compute, the dequantize + matmul path)

bitsandbytes 0.50.2's AVX-512 CPU `dequantize_4bit` takes element (r, c)'s scale from
absmax[r·(cols // blocksize) + c // blocksize]: right only when every row holds whole blocks. Its own
quantizer (and its CUDA and default backends) cut blocks from the flattened tensor, so for a weight
whose rows are not a multiple of 64 long (the qwen3 fixture's o_proj, 64×96) that kernel dequantizes
with other blocks' scales (up to 0.28 off here). `use_flat_block_dequantize` routes the CPU op through
bitsandbytes' own default-backend code (flattened blocks, the layout its quantizer wrote), so the NF4
answers are those of the 4-bit weights actually stored; the script checks that the two agree on every
weight whose rows hold whole blocks.
"""
import json, os, shutil, sys
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, BitsAndBytesConfig

torch.manual_seed(0)
OUT = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/families"
V = 160

COMMON = dict(vocab_size=V, hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, bos_token_id=1,
              eos_token_id=2, attention_dropout=0.0)

FAMILIES = {
    # Llama 3.1-style rope scaling (llama3), untied.
    "llama3": dict(model_type="llama", tie_word_embeddings=False,
                   rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
                                        high_freq_factor=4.0, original_max_position_embeddings=16)),
    # Qwen3: per-head q/k RMSNorm, explicit head_dim ≠ hidden / heads, tied, yarn scaling.
    "qwen3": dict(model_type="qwen3", tie_word_embeddings=True, head_dim=24,
                  rope_parameters=dict(rope_type="yarn", rope_theta=1000000.0, factor=4.0,
                                       original_max_position_embeddings=16)),
    # Qwen3 without scaling (the common case), untied.
    "qwen3_plain": dict(model_type="qwen3", tie_word_embeddings=False, head_dim=16,
                        rope_parameters=dict(rope_type="default", rope_theta=1000000.0)),
    # Mistral with a sliding window shorter than the sequences.
    "mistral": dict(model_type="mistral", tie_word_embeddings=False, sliding_window=4, head_dim=16,
                    rope_parameters=dict(rope_type="default", rope_theta=10000.0)),
    # Phi-3 / Phi-4-mini: fused qkv_proj and gate_up_proj, partial RoPE, longrope with a short
    # original context so the long sequence takes the long factors (and greedy generation crosses
    # it: transformers then recomputes the cache with the long factors), a sliding window (Phi-3-mini).
    "phi3": dict(model_type="phi3", tie_word_embeddings=False, pad_token_id=0, partial_rotary_factor=0.75,
                 original_max_position_embeddings=12, sliding_window=6, new_tokens=12,
                 rope_parameters=dict(rope_type="longrope", rope_theta=10000.0, partial_rotary_factor=0.75,
                                      short_factor=[1.0 + 0.1 * i for i in range(6)],
                                      long_factor=[1.5 + 0.5 * i for i in range(6)])),
    # Phi-4 shapes: fused projections, plain RoPE over the whole head, no window; tied (Phi-4-mini).
    "phi4": dict(model_type="phi3", tie_word_embeddings=True, pad_token_id=0,
                 rope_parameters=dict(rope_type="default", rope_theta=250000.0)),
    # Gemma 2: (1 + w) norms, four per layer, √hidden embeddings, GeGLU (tanh GELU), attention scale
    # from query_pre_attn_scalar (≠ head_dim), attention and final-logit soft-capping small enough to
    # bite, alternating sliding (window 4) / full layers, tied.
    "gemma2": dict(model_type="gemma2", tie_word_embeddings=True, head_dim=16, query_pre_attn_scalar=24,
                   attn_logit_softcapping=2.0, final_logit_softcapping=3.0, sliding_window=4, pad_token_id=0,
                   hidden_activation="gelu_pytorch_tanh", num_hidden_layers=3,
                   rope_parameters=dict(rope_type="default", rope_theta=10000.0)),
    # Gemma 3 text: as Gemma 2 without soft-capping, plus (1 + w) q/k norms; two local layers (window 4,
    # their own θ) then one global (θ 10⁶, linear scaling 8).
    "gemma3_text": dict(model_type="gemma3_text", tie_word_embeddings=True, head_dim=16, query_pre_attn_scalar=16,
                        sliding_window=4, pad_token_id=0, hidden_activation="gelu_pytorch_tanh", num_hidden_layers=3,
                        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
                        rope_parameters={"sliding_attention": dict(rope_type="default", rope_theta=10000.0),
                                         "full_attention": dict(rope_type="linear", factor=8.0, rope_theta=1000000.0)}),
}

# The Gemma 3 wrapper (Gemma3ForConditionalGeneration): gemma3_text's text model under `text_config`,
# with a tiny SigLIP vision tower beside it (its weights are in the file; the engine reads only the
# language model's).
WRAPPERS = {
    "gemma3": dict(text="gemma3_text",
                   vision_config=dict(model_type="siglip_vision_model", hidden_size=16, intermediate_size=32,
                                      num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14),
                   mm_tokens_per_image=4, boi_token_index=157, eoi_token_index=158, image_token_index=159),
}

SEQUENCES = [[1, 17, 42, 99, 5, 63, 120, 7, 88, 31], [1, 150, 3, 3, 77, 12, 9, 140, 65, 101, 44, 19, 23, 130, 58, 6]]
PROMPT = [1, 17, 42, 99, 5]
NEW_TOKENS = 8


def use_flat_block_dequantize():
    """Registers bitsandbytes' default-backend 4-bit dequantize (blocks of the flattened tensor) as its CPU kernel."""
    from bitsandbytes.backends.default.ops import _dequantize_4bit_compute
    from bitsandbytes.backends.utils import _get_4bit_code

    @torch.library.register_kernel("bitsandbytes::dequantize_4bit", "cpu")
    def _(A, absmax, blocksize, quant_type, shape, dtype):
        return _dequantize_4bit_compute(A.view(torch.uint8).reshape(-1), absmax.float(),
                                        _get_4bit_code(quant_type, A.device), blocksize, shape, dtype)


def native_cpu_dequantize_agrees(model, fam):
    """bitsandbytes' native CPU dequantize (called directly, whatever kernel is registered) against the
    flattened-block one: equal for every 4-bit weight whose rows hold whole blocks."""
    import ctypes as ct
    import bitsandbytes as bnb, bitsandbytes.functional as F
    from bitsandbytes.cextension import lib
    from bitsandbytes.backends.default.ops import _dequantize_4bit_compute
    from bitsandbytes.backends.utils import _get_4bit_code
    for name, m in model.named_modules():
        if not isinstance(m, bnb.nn.Linear4bit):
            continue
        st = m.weight.quant_state
        rows, cols = st.shape
        absmax = ((F.dequantize_blockwise(st.absmax, st.state2) + st.offset) if st.nested else st.absmax).float().contiguous()
        packed = m.weight.data.view(torch.uint8).reshape(rows, cols // 2).contiguous()
        native = torch.empty(st.shape, dtype=torch.float32)
        kernel = lib.cdequantize_blockwise_cpu_nf4_fp32 if st.quant_type == "nf4" else lib.cdequantize_blockwise_cpu_fp4_fp32
        kernel(F.get_ptr(packed), F.get_ptr(absmax), F.get_ptr(native), ct.c_longlong(st.blocksize),
               ct.c_longlong(rows), ct.c_longlong(cols))
        flat = _dequantize_4bit_compute(packed.reshape(-1), absmax, _get_4bit_code(st.quant_type, absmax.device),
                                        st.blocksize, st.shape, torch.float32)
        if cols % st.blocksize == 0:
            assert torch.equal(native, flat), name + ": native and flattened dequantize differ"
        else:
            print(f"{fam} {name} {tuple(st.shape)}: bitsandbytes' native CPU dequantize is "
                  f"{(native - flat).abs().max().item():.3g} off its flattened blocks")


def legacy(cfg: dict) -> dict:
    """The older config form: rope_theta / rope_scaling at the top level (Gemma 3: the local layers'
    θ as rope_local_base_freq, and sliding_window_pattern instead of layer_types; Gemma 2: the
    alternating layers implied)."""
    cfg = dict(cfg)
    if "text_config" in cfg:
        cfg["text_config"] = legacy(cfg["text_config"])
        return cfg
    if cfg.get("model_type") == "gemma3_text":
        rp = cfg.pop("rope_parameters")
        full, local = dict(rp["full_attention"]), dict(rp["sliding_attention"])
        cfg["rope_theta"] = full.pop("rope_theta")
        cfg["rope_scaling"] = None if full.get("rope_type") == "default" else full
        assert local.get("rope_type") == "default"
        cfg["rope_local_base_freq"] = local["rope_theta"]
        types = cfg.pop("layer_types")
        n = types.index("full_attention") + 1
        assert types == ["sliding_attention" if (i + 1) % n else "full_attention" for i in range(len(types))]
        cfg["sliding_window_pattern"] = n
        return cfg
    if cfg.get("model_type") == "gemma2":
        types = cfg.pop("layer_types")
        assert types == ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(len(types))]
    rp = dict(cfg.pop("rope_parameters"))
    cfg["rope_theta"] = rp.pop("rope_theta")
    prf = rp.pop("partial_rotary_factor", None)
    if prf is not None:
        cfg["partial_rotary_factor"] = prf
    cfg["rope_scaling"] = None if rp.get("rope_type") == "default" else rp
    return cfg


def randomize(model):
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:   # norms: around 1
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))
            p.copy_(p.to(torch.bfloat16).float())   # exactly bf16


def answers(model, sequences):
    out = []
    with torch.no_grad():
        for seq in sequences:
            ids = torch.tensor([seq])
            r = model(ids, labels=ids)
            out.append(dict(ids=seq, logits=[float("%.6g" % float(x)) for x in r.logits[0].flatten()], loss=float(r.loss)))
    return out


def family_config(fam):
    """(model_type, the config's keyword arguments, the transformers auto class) of a family or wrapper."""
    if fam in WRAPPERS:
        w = dict(WRAPPERS[fam])
        text = dict(COMMON, **FAMILIES[w.pop("text")])
        return "gemma3", dict(w, text_config=text), AutoModelForImageTextToText
    cfg_dict = dict(COMMON, **FAMILIES[fam])
    return cfg_dict.pop("model_type"), cfg_dict, AutoModelForCausalLM


def main():
    os.makedirs(OUT, exist_ok=True)
    use_flat_block_dequantize()
    wanted = sys.argv[2:] or list(FAMILIES) + list(WRAPPERS)   # optional family names: remake only those
    for fam in wanted:
        d = os.path.join(OUT, fam)
        shutil.rmtree(d, ignore_errors=True)
        model_type, cfg_dict, Auto = family_config(fam)
        new_tokens = cfg_dict.pop("new_tokens", NEW_TOKENS)
        config = AutoConfig.for_model(model_type, **cfg_dict)
        model = Auto.from_config(config, dtype=torch.float32)
        randomize(model)
        model.eval()
        model.save_pretrained(d, safe_serialization=True)
        # bf16 on disk (exact), config as transformers 5 wrote it.
        from safetensors.torch import load_file, save_file
        w = load_file(os.path.join(d, "model.safetensors"))
        save_file({k: v.to(torch.bfloat16) for k, v in w.items()}, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        with open(os.path.join(d, "config.json")) as f:
            written = json.load(f)
        with open(os.path.join(d, "config.legacy.json"), "w") as f:
            json.dump(legacy(written), f, indent=2, sort_keys=True)
        for junk in ["generation_config.json"]:
            if os.path.exists(os.path.join(d, junk)):
                os.remove(os.path.join(d, junk))

        # The legacy form must mean the same thing to transformers (else the fixture would lie).
        legacy_cfg = AutoConfig.for_model(model_type, **{k: v for k, v in legacy(written).items() if k != "model_type"})
        m2 = Auto.from_config(legacy_cfg, dtype=torch.float32)
        m2.load_state_dict(model.state_dict(), strict=False)
        if model.config.tie_word_embeddings:
            m2.tie_weights()
        m2.eval()
        ref = answers(model, SEQUENCES)
        alt = answers(m2, SEQUENCES)
        for a, b in zip(ref, alt):
            assert max(abs(x - y) for x, y in zip(a["logits"], b["logits"])) < 1e-5, fam + ": legacy form differs"

        model.generation_config.eos_token_id = None   # never stop early: compare all NEW_TOKENS
        with torch.no_grad():
            gen = model.generate(torch.tensor([PROMPT]), max_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
        greedy = [int(t) for t in gen[0, len(PROMPT):]]

        # NF4: bitsandbytes quantizes the same weights; transformers saves them pre-quantized.
        q = Auto.from_pretrained(
            d, dtype=torch.float32, device_map="cpu",
            quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                   bnb_4bit_use_double_quant=True,
                                                   bnb_4bit_compute_dtype=torch.float32))
        q.save_pretrained(os.path.join(d, "nf4"), safe_serialization=True)
        # Embeddings, lm_head and norms are bf16 values held in Float32: store them as bf16 (lossless).
        qpath = os.path.join(d, "nf4", "model.safetensors")
        qw = load_file(qpath)
        keep = ("norm.weight", "embed_tokens.weight", "lm_head.weight")
        save_file({k: (v.to(torch.bfloat16) if k.endswith(keep) and v.dtype == torch.float32 else v) for k, v in qw.items()},
                  qpath, metadata={"format": "pt"})
        for junk in ["generation_config.json"]:
            p = os.path.join(d, "nf4", junk)
            if os.path.exists(p):
                os.remove(p)
        # The answers come from the saved 4-bit directory, loaded back as pre-quantized: exactly the
        # weights the engine reads.
        q = Auto.from_pretrained(os.path.join(d, "nf4"), device_map="cpu", dtype=torch.float32)
        native_cpu_dequantize_agrees(q, fam)
        for p in q.parameters():   # transformers keeps the stored bf16 (exact) values in bf16: compute in Float32
            if p.dtype == torch.bfloat16:
                p.data = p.data.float()
        q.train()   # the Float32 dequantize + linear path (eval + no_grad takes a bf16 kernel)
        nf4 = answers(q, SEQUENCES)

        expected = dict(family=fam, model_type=model_type, transformers=__import__("transformers").__version__,
                        torch=torch.__version__, bitsandbytes=__import__("bitsandbytes").__version__,
                        sequences=ref, prompt=PROMPT, greedy=greedy,
                        nf4=[dict(ids=r["ids"], logits=r["logits"], loss=r["loss"]) for r in nf4])
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump(expected, f)
        size = sum(os.path.getsize(os.path.join(r, x)) for r, _, fs in os.walk(d) for x in fs)
        print(f"{fam}: {size // 1024} KiB, loss {ref[0]['loss']:.4f}/{ref[1]['loss']:.4f}, nf4 loss {nf4[0]['loss']:.4f}, greedy {greedy}")


if __name__ == "__main__":
    main()
