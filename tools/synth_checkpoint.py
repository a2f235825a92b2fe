#!/usr/bin/env python3
"""Writes a made-up Hugging Face Llama checkpoint with a real model's exact shapes: random finite
bf16 values, sharded safetensors (≤ 5 GB per shard, as transformers saves) and its index, and
config.json. For memory benchmarks of `qlora quantize` at real sizes without downloading anything.

    python3 tools/synth_checkpoint.py llama-3.2-1b OUT_DIR
    python3 tools/synth_checkpoint.py llama-3.1-8b OUT_DIR
    python3 tools/synth_checkpoint.py qwen3-4b OUT_DIR
    python3 tools/synth_checkpoint.py gemma-3-4b OUT_DIR     (the text model, `gemma3_text`)

Needs only numpy. Each tensor is generated and written on its own (memory stays near the largest
tensor's bytes).
"""
import json
import os
import struct
import sys

import numpy as np

CONFIGS = {
    # Shapes from the models' own config.json files.
    "llama-3.2-1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=64, tie_word_embeddings=True,
                         rope_theta=500000.0, max_position_embeddings=131072,
                         rope_scaling=dict(factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                           original_max_position_embeddings=8192, rope_type="llama3")),
    "llama-3.1-8b": dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=False,
                         rope_theta=500000.0, max_position_embeddings=131072,
                         rope_scaling=dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                           original_max_position_embeddings=8192, rope_type="llama3")),
    "qwen3-4b": dict(model_type="qwen3", architectures=["Qwen3ForCausalLM"], vocab_size=151936, hidden_size=2560,
                     intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8,
                     head_dim=128, tie_word_embeddings=True, rope_theta=1000000.0, max_position_embeddings=40960,
                     rms_norm_eps=1e-6, bos_token_id=151643, eos_token_id=151645, hidden_act="silu"),
    "gemma-3-4b": dict(model_type="gemma3_text", architectures=["Gemma3ForCausalLM"], vocab_size=262208,
                       hidden_size=2560, intermediate_size=10240, num_hidden_layers=34, num_attention_heads=8,
                       num_key_value_heads=4, head_dim=256, tie_word_embeddings=True, rope_theta=1000000.0,
                       rope_local_base_freq=10000.0, rope_scaling=dict(rope_type="linear", factor=8.0),
                       sliding_window=1024, sliding_window_pattern=6, query_pre_attn_scalar=256,
                       max_position_embeddings=131072, rms_norm_eps=1e-6, bos_token_id=2, eos_token_id=1,
                       hidden_activation="gelu_pytorch_tanh", attn_logit_softcapping=None,
                       final_logit_softcapping=None,
                       layer_types=["full_attention" if (i + 1) % 6 == 0 else "sliding_attention"
                                    for i in range(34)]),
}
SHARD_BYTES = 5 * 10**9


def tensors(c):
    h, i, hd = c["hidden_size"], c["intermediate_size"], c["head_dim"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    yield "model.embed_tokens.weight", [c["vocab_size"], h]
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        yield p + "input_layernorm.weight", [h]
        yield p + "post_attention_layernorm.weight", [h]
        if c.get("model_type", "llama").startswith("gemma"):
            yield p + "pre_feedforward_layernorm.weight", [h]
            yield p + "post_feedforward_layernorm.weight", [h]
        if c.get("model_type", "llama") in ("qwen3", "gemma3_text"):
            yield p + "self_attn.q_norm.weight", [hd]
            yield p + "self_attn.k_norm.weight", [hd]
        yield p + "self_attn.q_proj.weight", [q, h]
        yield p + "self_attn.k_proj.weight", [kv, h]
        yield p + "self_attn.v_proj.weight", [kv, h]
        yield p + "self_attn.o_proj.weight", [h, q]
        yield p + "mlp.gate_proj.weight", [i, h]
        yield p + "mlp.up_proj.weight", [i, h]
        yield p + "mlp.down_proj.weight", [h, i]
    yield "model.norm.weight", [h]
    if not c["tie_word_embeddings"]:
        yield "lm_head.weight", [c["vocab_size"], h]


def write_shard(path, items, rng):
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in items:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for name, shape in items:
            n = int(np.prod(shape))
            for start in range(0, n, 1 << 26):   # 128 MiB of bf16 at a time
                m = min(1 << 26, n - start)
                bits = rng.integers(0, 1 << 16, size=m, dtype=np.uint16)
                f.write(((bits & 0x807F) | 0x3C00).astype("<u2").tobytes())  # |x| in [2^-7, 2^-6)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in CONFIGS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(CONFIGS)}}} OUT_DIR")
    c, out = CONFIGS[sys.argv[1]], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    shards, cur, size = [], [], 0
    for name, shape in tensors(c):
        n = int(np.prod(shape)) * 2
        if cur and size + n > SHARD_BYTES:
            shards.append(cur)
            cur, size = [], 0
        cur.append((name, shape))
        size += n
    shards.append(cur)
    rng = np.random.default_rng(1)
    weight_map, total = {}, 0
    for k, items in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        write_shard(os.path.join(out, fname), items, rng)
        for name, shape in items:
            weight_map[name] = fname
            total += int(np.prod(shape)) * 2
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    config = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu", rms_norm_eps=1e-5,
                  bos_token_id=128000, eos_token_id=128001, torch_dtype="bfloat16", attention_bias=False,
                  mlp_bias=False)
    config.update(c)
    if config["model_type"].startswith("gemma"):
        for key in ("hidden_act", "mlp_bias"):
            config.pop(key)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"{out}: {len(shards)} shard(s), {total / 1e9:.2f} GB of bf16")


if __name__ == "__main__":
    main()
