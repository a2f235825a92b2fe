#!/usr/bin/env python3
"""Writes the GGUF reader's test fixtures into Tests/Fixtures/gguf/.

The expected values come from the `gguf` Python package (`gguf.quants.dequantize`, what transformers
uses to load a GGUF file), so the Swift dequantizers are checked against an independent
implementation. Tests read only the committed output; run this again only to change the fixtures:

    python3 -m venv .venv-gguf && .venv-gguf/bin/pip install gguf numpy
    .venv-gguf/bin/python tools/make_gguf_fixtures.py [--smollm2 models/SmolLM2-135M-Instruct.Q4_1.gguf]

Files written (all data deterministic from fixed seeds; about 380 KB in total):

- quant_types.gguf: one tensor per ggml type (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k,
  q5_k, q6_k), made of random bytes (the f16 scales replaced by random finite halves, zero and
  subnormal included), plus metadata of every GGUF value type (keys `fixture.*`, nested arrays too).
- quant_types_expected.safetensors: the same names, F32, `gguf.quants.dequantize` of each tensor in
  row-major (out, in) shape.
- tiny_llama.gguf: a 2-layer LLaMA (hidden 64, 4 heads, 2 KV heads, head dim 16, FFN 96, vocab 40,
  tied embeddings, q/k biases) with a small byte-level BPE tokenizer; q and k (weights and biases)
  are permuted the way llama.cpp's convert_hf_to_gguf.py permutes them, and the tensors use F32,
  F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1.
- tiny_llama_expected.safetensors: every tensor under its Hugging Face name, as transformers'
  GGUF loader makes it: dequantized by the gguf package, then un-permuted (its
  `_reverse_permute_weights`). F32 tensors equal the original Hugging Face weights exactly.
- tokenizer_variant.gguf: tokenizer metadata only, with the cases the tokenizer-file builder must get
  right: a control token and a user-defined token not spelled in the byte alphabet (transformers
  skips both), bos and pad that are ordinary tokens (added as special), add_bos and add_eos set,
  GPT-2's split (pre "smollm").

With transformers installed (`pip install transformers tokenizers jinja2`; no torch needed), also the
files transformers' GGUF loader writes, which the Swift tokenizer-file builder is checked against:

- tokenizer_reference/{tiny_llama,tokenizer_variant}/: `tokenizer.json`, `tokenizer_config.json`,
  `chat_template.jinja` from `save_pretrained` of the tokenizer transformers builds from the file.
- tokenizer_reference/smollm2.json (when --smollm2 PATH is given): byte count and FNV-1a-64 of the
  `tokenizer.json` transformers builds from SmolLM2's GGUF (3.5 MB, too large to commit) and its
  `tokenizer_config.json`.
"""
import importlib.metadata
import json
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "gguf")


def write_safetensors(path, tensors):
    """A minimal safetensors writer (F32 only): u64 header length, JSON header, raw data."""
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


# Byte offsets of the f16 scale fields in each block, and whether they are a min (kept >= 0 is
# not required: ggml stores any half there).
SCALE_FIELDS = {
    T.Q8_0: [0], T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2],
    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def random_finite_halves(rng, n):
    """Random f16 bit patterns with exponent < 31 (no inf/NaN), so every scale is finite."""
    bits = rng.integers(0, 1 << 16, size=n, dtype=np.uint32).astype(np.uint16)
    exponent = (bits >> 10) & 0x1F
    bits = np.where(exponent == 0x1F, bits & 0x83FF, bits)  # inf/NaN -> a subnormal
    return bits.astype(np.uint16)


def random_blocks(rng, qtype, rows, cols):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = rows * cols // block
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint16).astype(np.uint8)
    for field in SCALE_FIELDS[qtype]:
        halves = random_finite_halves(rng, n_blocks)
        halves[0] = 0x0000          # d = 0
        halves[1 % n_blocks] = 0x0001  # smallest subnormal
        halves[2 % n_blocks] = 0x3C00  # 1.0
        raw[:, field:field + 2] = halves.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(rows, cols // block * size)


def make_quant_types():
    rng = np.random.default_rng(20240611)
    w = gguf.GGUFWriter(os.path.join(OUT, "quant_types.gguf"), "fixture")
    expected = {}
    # Float types: every bit pattern is fair game (NaN payloads must survive bit for bit).
    f32 = rng.integers(0, 1 << 32, size=(3, 40), dtype=np.uint64).astype(np.uint32)
    f32[0, :6] = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00001, 0x7F800001]
    f16 = rng.integers(0, 1 << 16, size=(3, 40), dtype=np.uint32).astype(np.uint16)
    f16[0, :6] = [0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E01, 0x7C01]
    bf16 = rng.integers(0, 1 << 16, size=(3, 40), dtype=np.uint32).astype(np.uint16)
    bf16[0, :6] = [0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC1, 0x7F81]
    w.add_tensor("f32", f32.view(np.float32))
    expected["f32"] = gguf.quants.dequantize(f32.view(np.uint8), T.F32).reshape(3, 40)
    w.add_tensor("f16", f16.view(np.float16))
    expected["f16"] = gguf.quants.dequantize(f16.view(np.uint8), T.F16).reshape(3, 40)
    w.add_tensor("bf16", bf16.view(np.uint8), raw_dtype=T.BF16)
    expected["bf16"] = gguf.quants.dequantize(bf16.view(np.uint8), T.BF16).reshape(3, 40)
    for qtype, (rows, cols) in [
        (T.Q8_0, (4, 128)), (T.Q4_0, (4, 128)), (T.Q4_1, (4, 128)), (T.Q5_0, (4, 128)),
        (T.Q5_1, (4, 128)), (T.Q4_K, (4, 512)), (T.Q5_K, (4, 512)), (T.Q6_K, (4, 512)),
    ]:
        raw = random_blocks(rng, qtype, rows, cols)
        name = qtype.name.lower()
        w.add_tensor(name, raw, raw_dtype=qtype)
        values = gguf.quants.dequantize(raw, qtype)
        assert values.shape == (rows, cols) and values.dtype == np.float32, (name, values.shape)
        assert np.isfinite(values).all(), name
        expected[name] = values

    # Metadata of every value type.
    V = gguf.GGUFValueType
    w.add_uint8("fixture.u8", 200)
    w.add_int8("fixture.i8", -100)
    w.add_uint16("fixture.u16", 60000)
    w.add_int16("fixture.i16", -30000)
    w.add_uint32("fixture.u32", 4000000000)
    w.add_int32("fixture.i32", -2000000000)
    w.add_float32("fixture.f32", 0.1)
    w.add_bool("fixture.bool", True)
    w.add_string("fixture.string", "héllo ✓")
    w.add_uint64("fixture.u64", 1 << 63)
    w.add_int64("fixture.i64", -(1 << 62))
    w.add_float64("fixture.f64", 0.1)
    w.add_array("fixture.strings", ["a", "", "Ġthe"])
    w.add_key_value("fixture.i32s", [1, -2, 3], V.ARRAY, V.INT32)
    w.add_key_value("fixture.nested", [[1, 2], [3]], V.ARRAY, V.ARRAY)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write_safetensors(os.path.join(OUT, "quant_types_expected.safetensors"), expected)


def llama_permute(weights, n_head, n_head_kv):
    """llama.cpp convert_hf_to_gguf.py LlamaModel.permute."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def reverse_permute(weights, n_head, num_kv_heads):
    """transformers modeling_gguf_pytorch_utils LlamaTensorProcessor._reverse_permute_weights."""
    if num_kv_heads is not None and n_head != num_kv_heads:
        n_head = num_kv_heads
    dim = weights.shape[0] // n_head // 2
    w = weights.reshape(n_head, dim, 2, *weights.shape[1:])
    return w.swapaxes(2, 1).reshape(weights.shape)


TINY_TOKENS = (
    ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>"]
    + list("abcdefghij") + ["Ġ", "Ċ", ".", ",", "'", "0", "1"]
    + ["ab", "abc", "Ġa", "Ġab", "Ġabc", "de", "def", "Ġd", "Ġde", "gh", "ĠĠ", "ij", "Ġg", "'a",
       "01", "Ġ."]
    + ["<special_x>", "<unused_0>", "ĊĊ"]
)
TINY_MERGES = ["a b", "ab c", "Ġ a", "Ġa b", "Ġab c", "d e", "de f", "Ġ d", "Ġd e", "g h", "Ġ Ġ",
               "i j", "Ġ g", "' a", "0 1", "Ġ .", "Ċ Ċ"]


def make_tiny_llama():
    rng = np.random.default_rng(20240612)
    vocab, hidden, layers, heads, kv_heads, ffn = len(TINY_TOKENS), 64, 2, 4, 2, 96
    head_dim = hidden // heads
    w = gguf.GGUFWriter(os.path.join(OUT, "tiny_llama.gguf"), "llama")
    w.add_name("tiny-llama-fixture")
    w.add_context_length(256)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(vocab)
    w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
    w.add_rope_scaling_factor(2.0)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_1)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    w.add_token_list(TINY_TOKENS)
    types = [1] * vocab
    for i in (0, 1, 2):
        types[i] = 3                                   # control
    types[TINY_TOKENS.index("<special_x>")] = 4          # user-defined
    types[TINY_TOKENS.index("<unused_0>")] = 5           # unused
    w.add_token_types(types)
    w.add_token_merges(TINY_MERGES)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_pad_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")

    tensors, expected = [], {}

    def add(gguf_name, hf_name, hf_weight, qtype, permute_heads=None):
        stored = hf_weight if permute_heads is None else llama_permute(hf_weight, heads, permute_heads)
        if qtype == T.F32:
            data = stored.astype(np.float32)
        elif qtype == T.F16:
            data = stored.astype(np.float16)
        else:
            data = gguf.quants.quantize(stored.astype(np.float32), qtype)
        tensors.append((gguf_name, data, None if qtype in (T.F32, T.F16) else qtype))
        raw = data.view(np.uint8) if qtype not in (T.F32, T.F16) else data
        values = gguf.quants.dequantize(raw, qtype).reshape(hf_weight.shape).astype(np.float32)
        if permute_heads is not None:
            values = reverse_permute(values, heads, permute_heads)
        if qtype == T.F32:
            assert np.array_equal(values, hf_weight), gguf_name
        expected[hf_name] = values

    def randn(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    add("token_embd.weight", "model.embed_tokens.weight", randn(vocab, hidden), T.Q8_0)
    plans = [
        {"q": T.F32, "k": T.F16, "v": T.Q4_0, "o": T.Q4_1, "gate": T.Q5_0, "up": T.Q5_1, "down": T.Q8_0},
        {"q": T.Q4_1, "k": T.Q8_0, "v": T.BF16, "o": T.Q5_0, "gate": T.Q4_0, "up": T.Q8_0, "down": T.Q5_1},
    ]
    for i, plan in enumerate(plans):
        g, h = f"blk.{i}.", f"model.layers.{i}."
        add(g + "attn_norm.weight", h + "input_layernorm.weight", 1 + randn(hidden), T.F32)
        add(g + "attn_q.weight", h + "self_attn.q_proj.weight", randn(heads * head_dim, hidden), plan["q"], heads)
        add(g + "attn_q.bias", h + "self_attn.q_proj.bias", randn(heads * head_dim), T.F32, heads)
        add(g + "attn_k.weight", h + "self_attn.k_proj.weight", randn(kv_heads * head_dim, hidden), plan["k"], kv_heads)
        add(g + "attn_k.bias", h + "self_attn.k_proj.bias", randn(kv_heads * head_dim), T.F32, kv_heads)
        add(g + "attn_v.weight", h + "self_attn.v_proj.weight", randn(kv_heads * head_dim, hidden), plan["v"])
        add(g + "attn_v.bias", h + "self_attn.v_proj.bias", randn(kv_heads * head_dim), T.F32)
        add(g + "attn_output.weight", h + "self_attn.o_proj.weight", randn(hidden, heads * head_dim), plan["o"])
        add(g + "ffn_norm.weight", h + "post_attention_layernorm.weight", 1 + randn(hidden), T.F32)
        add(g + "ffn_gate.weight", h + "mlp.gate_proj.weight", randn(ffn, hidden), plan["gate"])
        add(g + "ffn_up.weight", h + "mlp.up_proj.weight", randn(ffn, hidden), plan["up"])
        add(g + "ffn_down.weight", h + "mlp.down_proj.weight", randn(hidden, ffn), plan["down"])
    add("output_norm.weight", "model.norm.weight", 1 + randn(hidden), T.F32)

    for name, data, raw_dtype in tensors:
        w.add_tensor(name, data, raw_dtype=raw_dtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write_safetensors(os.path.join(OUT, "tiny_llama_expected.safetensors"), expected)


def make_tokenizer_variant():
    w = gguf.GGUFWriter(os.path.join(OUT, "tokenizer_variant.gguf"), "llama")
    tokens = list(TINY_TOKENS)
    tokens[3] = "<repo name>"        # control, but not in the byte alphabet (a space)
    tokens[38] = "<unused 0>"        # user-defined, not in the byte alphabet
    types = [1] * len(tokens)
    types[0] = types[1] = types[2] = types[3] = 3
    types[37] = types[38] = 4
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(TINY_MERGES)
    w.add_bos_token_id(5)            # "b", an ordinary token
    w.add_eos_token_id(2)
    w.add_pad_token_id(6)            # "c"
    w.add_add_bos_token(True)
    w.add_add_eos_token(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def transformers_tokenizer(path, out_dir):
    """What transformers' GGUF loader builds (get_gguf_tokenizer + convert_gguf_tokenizer +
    TokenizersBackend), saved with save_pretrained. The metadata is read with the gguf package,
    since transformers' own reader needs torch."""
    from transformers import TokenizersBackend
    from transformers.integrations.gguf.gguf_tokenizer_mapping import (
        GGUF_TOKENIZER_MAPPING, _SPECIAL_TOKENS, convert_gguf_tokenizer)
    reader = gguf.GGUFReader(path)
    meta = {k: f.contents() for k, f in reader.fields.items() if k.startswith("tokenizer.") or k == "general.architecture"}
    grouped = {group: {name: meta[f"tokenizer.{key}"] for key, name in renames.items() if f"tokenizer.{key}" in meta}
               for group, renames in GGUF_TOKENIZER_MAPPING.items()}
    tokenizer_dict, tokenizer_config = grouped["tokenizer"], grouped["tokenizer_config"]
    for name, key in _SPECIAL_TOKENS.items():
        token_id = meta.get(f"tokenizer.ggml.{key}")
        tokenizer_config[name] = tokenizer_dict["tokens"][token_id] if token_id is not None else None
    backend, extra = convert_gguf_tokenizer(meta["general.architecture"], tokenizer_dict)
    TokenizersBackend(tokenizer_object=backend, **tokenizer_config, **extra).save_pretrained(out_dir)


def make_tokenizer_references(smollm2):
    try:
        import transformers
    except ImportError:
        print("transformers not installed: tokenizer references not written")
        return
    ref = os.path.join(OUT, "tokenizer_reference")
    for name in ("tiny_llama", "tokenizer_variant"):
        transformers_tokenizer(os.path.join(OUT, name + ".gguf"), os.path.join(ref, name))
    if smollm2:
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            transformers_tokenizer(smollm2, tmp)
            data = open(os.path.join(tmp, "tokenizer.json"), "rb").read()
            config = json.load(open(os.path.join(tmp, "tokenizer_config.json")))
        summary = {"transformers": transformers.__version__,
                   "tokenizer.json": {"bytes": len(data), "fnv1a64": fnv1a64(data)},
                   "tokenizer_config.json": config}
        with open(os.path.join(ref, "smollm2.json"), "w") as f:
            json.dump(summary, f, indent=2, sort_keys=True)
            f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    make_quant_types()
    make_tiny_llama()
    make_tokenizer_variant()
    smollm2 = sys.argv[sys.argv.index("--smollm2") + 1] if "--smollm2" in sys.argv else None
    make_tokenizer_references(smollm2)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(OUT) for f in files)
    print(f"wrote {OUT} ({total} bytes); gguf {importlib.metadata.version('gguf')}, numpy {np.__version__}")


if __name__ == "__main__":
    sys.exit(main())
