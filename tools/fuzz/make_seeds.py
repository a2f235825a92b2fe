#!/usr/bin/env python3
"""Writes the fuzz seed corpora into Fuzz/corpus/<target>/ (small files, committed).

Seeds are real files or built the way the real files are: copied from Tests/Fixtures where a small
one exists, otherwise written here with the layout the format's reference writer uses (safetensors:
u64 header length + JSON + data; GGUF v3: llama.cpp's layout; PEFT and bitsandbytes key names as
PEFT / transformers write them). Python standard library only; deterministic.

    python3 tools/fuzz/make_seeds.py
"""
import json
import math
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "Fuzz", "corpus")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fixture(*parts):
    with open(os.path.join(FIXTURES, *parts), "rb") as f:
        return f.read()


# ---- safetensors -------------------------------------------------------------------------------

def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, bytes), stored in order; header keys sorted, padded to 8."""
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(t[3] for t in tensors)


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def f16(values):
    return struct.pack("<%de" % len(values), *values)


def bf16(values):
    return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in values)


def ramp(n, scale=0.02):
    return [scale * math.sin(0.7 * i + 0.3) for i in range(n)]


# ---- GGUF --------------------------------------------------------------------------------------

GGUF_TYPES = {"u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6, "bool": 7,
              "str": 8, "arr": 9, "u64": 10, "i64": 11, "f64": 12}
PACK = {"u8": "<B", "i8": "<b", "u16": "<H", "i16": "<h", "u32": "<I", "i32": "<i", "f32": "<f",
        "bool": "<B", "u64": "<Q", "i64": "<q", "f64": "<d"}


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gvalue(kind, v):
    if kind == "str":
        return gstr(v)
    if kind.startswith("arr:"):
        elem = kind[4:]
        return struct.pack("<IQ", GGUF_TYPES[elem], len(v)) + b"".join(gvalue(elem, x) for x in v)
    return struct.pack(PACK[kind], v)


def gguf(metadata, tensors, alignment=32):
    """metadata: list of (key, kind, value); tensors: list of (name, dims ne0-first, ggml type, bytes)."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, kind, v in metadata:
        t = GGUF_TYPES["arr"] if kind.startswith("arr:") else GGUF_TYPES[kind]
        out += gstr(key) + struct.pack("<I", t) + gvalue(kind, v)
    offset, data = 0, b""
    for name, dims, gtype, raw in tensors:
        offset += -offset % alignment
        data += b"\0" * (offset - len(data))
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", gtype, offset)
        data += raw
        offset += len(raw)
    out += b"\0" * (-len(out) % alignment)
    return out + data


def byte_level_vocab():
    """GPT-2's byte alphabet: printable bytes stand for themselves, others map to U+0100 + n."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    chars, n = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return chars


def tiny_tokenizer_metadata():
    alpha = byte_level_vocab()
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [alpha[b] for b in b" abdehlorw,!H"]
    g = alpha[ord(" ")]
    merges = ["h e", "l l", "he ll", g + " w", "o r"]
    tokens += ["he", "ll", "hell", g + "w", "or"]
    types = [3, 3, 3] + [1] * (len(tokens) - 3)
    return [
        ("tokenizer.ggml.model", "str", "gpt2"),
        ("tokenizer.ggml.pre", "str", "smollm"),
        ("tokenizer.ggml.tokens", "arr:str", tokens),
        ("tokenizer.ggml.token_type", "arr:i32", types),
        ("tokenizer.ggml.merges", "arr:str", merges),
        ("tokenizer.ggml.bos_token_id", "u32", 1),
        ("tokenizer.ggml.eos_token_id", "u32", 2),
        ("tokenizer.ggml.padding_token_id", "u32", 0),
        ("tokenizer.ggml.add_bos_token", "bool", 0),
        ("tokenizer.chat_template", "str", "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"),
    ], len(tokens)


def tiny_llama_gguf():
    """A 1-layer LLaMA (hidden 8, 2 heads, 1 KV head, FFN 16) in F32/F16/Q8_0, with a tokenizer."""
    tok, vocab = tiny_tokenizer_metadata()
    hidden, ffn, heads, kv = 8, 16, 2, 1
    head_dim = hidden // heads
    meta = [
        ("general.architecture", "str", "llama"),
        ("general.name", "str", "fuzz-seed"),
        ("llama.context_length", "u32", 64),
        ("llama.embedding_length", "u32", hidden),
        ("llama.feed_forward_length", "u32", ffn),
        ("llama.block_count", "u32", 1),
        ("llama.attention.head_count", "u32", heads),
        ("llama.attention.head_count_kv", "u32", kv),
        ("llama.attention.layer_norm_rms_epsilon", "f32", 1e-5),
        ("llama.rope.freq_base", "f32", 10000.0),
        ("general.alignment", "u32", 32),
    ] + tok

    def q8_0(values):  # blocks of 32: f16 scale, 32 int8
        out = b""
        for i in range(0, len(values), 32):
            block = values[i:i + 32]
            d = max(abs(v) for v in block) / 127 or 1.0
            out += struct.pack("<e", d) + bytes(int(round(v / d)) & 0xFF for v in block)
        return out

    tensors = [
        ("token_embd.weight", [hidden, vocab], 0, f32(ramp(hidden * vocab))),
        ("blk.0.attn_norm.weight", [hidden], 0, f32([1.0] * hidden)),
        ("blk.0.attn_q.weight", [hidden, hidden], 1, f16(ramp(hidden * hidden))),
        ("blk.0.attn_k.weight", [hidden, kv * head_dim], 0, f32(ramp(hidden * kv * head_dim))),
        ("blk.0.attn_v.weight", [hidden, kv * head_dim], 0, f32(ramp(hidden * kv * head_dim))),
        ("blk.0.attn_output.weight", [hidden, hidden], 0, f32(ramp(hidden * hidden))),
        ("blk.0.ffn_norm.weight", [hidden], 0, f32([1.0] * hidden)),
        ("blk.0.ffn_gate.weight", [32, 4], 8, q8_0(ramp(128))),  # ne0 must be a whole Q8_0 block
        ("blk.0.ffn_up.weight", [hidden, ffn], 0, f32(ramp(hidden * ffn))),
        ("blk.0.ffn_down.weight", [ffn, hidden], 0, f32(ramp(ffn * hidden))),
        ("output_norm.weight", [hidden], 0, f32([1.0] * hidden)),
    ]
    return gguf(meta, tensors)


def tokenizer_only_gguf():
    tok, _ = tiny_tokenizer_metadata()
    return gguf([("general.architecture", "str", "llama")] + tok, [])


# ---- bitsandbytes 4-bit ------------------------------------------------------------------------

NF4_BITS = [0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0, 0xbe91a24d, 0xbe3d353f, 0xbdba7871, 0x00000000,
            0x3da2faff, 0x3e24cae3, 0x3e7c04dd, 0x3ead033a, 0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3, 0x3f800000]


def bnb4_file(double_quant):
    """One NF4 weight of shape [4, 64] (blocksize 64) as transformers' Linear4bit saves it."""
    p = "model.layers.0.mlp.up_proj.weight"
    packed = bytes((i * 37 + 11) & 0xFF for i in range(128))
    qmap = b"".join(struct.pack("<I", b) for b in NF4_BITS)
    state = {"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [4, 64]}
    tensors = [(p, "U8", [128, 1], packed)]
    if double_quant:
        state.update({"nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": 0.0213})
        tensors += [(p + ".absmax", "U8", [4], bytes([12, 200, 77, 140])),
                    (p + ".nested_absmax", "F32", [1], f32([0.004])),
                    (p + ".nested_quant_map", "F32", [256], f32([(i - 128) / 128 for i in range(256)]))]
    else:
        tensors += [(p + ".absmax", "F32", [4], f32([0.021, 0.034, 0.018, 0.027]))]
    tensors.append((p + ".quant_map", "F32", [16], qmap))
    js = json.dumps(state).encode()
    tensors.append((p + ".quant_state.bitsandbytes__nf4", "U8", [len(js)], js))
    return safetensors(tensors), js


# ---- seeds -------------------------------------------------------------------------------------

def main():
    shutil.rmtree(CORPUS, ignore_errors=True)

    # safetensors: every dtype family, metadata, an empty tensor, a 0-d tensor.
    put("safetensors", "mixed_dtypes.safetensors", safetensors([
        ("model.embed_tokens.weight", "F32", [4, 8], f32(ramp(32))),
        ("model.norm.weight", "F16", [8], f16([1.0] * 8)),
        ("lm_head.weight", "BF16", [4, 8], bf16(ramp(32))),
        ("position_ids", "I64", [1, 4], struct.pack("<4q", 0, 1, 2, 3)),
        ("mask", "BOOL", [4], bytes([1, 1, 0, 1])),
        ("scale", "F64", [], struct.pack("<d", 0.125)),
        ("empty", "F32", [0, 8], b""),
        ("codes", "U8", [6], bytes(range(6))),
        ("fp8", "F8_E4M3", [4], bytes([0x38, 0x40, 0xb8, 0x7e])),
    ], metadata={"format": "pt"}))
    put("safetensors", "layer.safetensors", safetensors([
        ("model.layers.0.self_attn.q_proj.weight", "BF16", [8, 8], bf16(ramp(64))),
        ("model.layers.0.self_attn.k_proj.weight", "BF16", [4, 8], bf16(ramp(32))),
        ("model.layers.0.input_layernorm.weight", "F32", [8], f32([1.0] * 8)),
    ]))

    # sharded index, as transformers' save_pretrained writes it.
    weight_map = {f"model.layers.{l}.{m}.weight": f"model-0000{1 + l // 2}-of-00002.safetensors"
                  for l in range(4) for m in ["self_attn.q_proj", "mlp.down_proj"]}
    weight_map["model.embed_tokens.weight"] = "model-00001-of-00002.safetensors"
    put("sharded-index", "index.json", json.dumps({"metadata": {"total_size": 269060552}, "weight_map": weight_map}, indent=2))
    put("sharded-index", "subdir.json", json.dumps({"weight_map": {"a.weight": "shards/one.safetensors", "b.weight": "two.safetensors"}}))

    # GGUF: the small fixtures, and a tiny LLaMA with a tokenizer.
    put("gguf", "tokenizer_variant.gguf", fixture("gguf", "tokenizer_variant.gguf"))
    put("gguf", "quant_types.gguf", fixture("gguf", "quant_types.gguf"))
    put("gguf", "tiny_llama.gguf", tiny_llama_gguf())
    put("gguf-tokenizer", "tokenizer_variant.gguf", fixture("gguf", "tokenizer_variant.gguf"))
    put("gguf-tokenizer", "tokenizer_only.gguf", tokenizer_only_gguf())

    # config.json: SmolLM2-135M's fields, Llama 3 rope scaling, Qwen2, Mixtral, TinyCheckpoint's.
    put("config", "smollm2.json", json.dumps({
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 576,
        "initializer_range": 0.041666666666666664, "intermediate_size": 1536, "max_position_embeddings": 8192,
        "mlp_bias": False, "model_type": "llama", "num_attention_heads": 9, "num_hidden_layers": 30,
        "num_key_value_heads": 3, "pad_token_id": 2, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
        "rope_scaling": None, "rope_theta": 100000, "tie_word_embeddings": True, "torch_dtype": "bfloat16",
        "transformers_version": "4.42.3", "use_cache": True, "vocab_size": 49152}, indent=2))
    put("config", "llama3.json", json.dumps({
        "model_type": "llama", "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "vocab_size": 128256,
        "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "tie_word_embeddings": True, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "dtype": "bfloat16"}))
    put("config", "qwen2.json", json.dumps({
        "model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
        "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936, "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "max_position_embeddings": 32768}))
    put("config", "mixtral.json", json.dumps({
        "model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000, "num_local_experts": 8,
        "num_experts_per_tok": 2, "rope_scaling": {"type": "linear", "factor": 2.0}}))
    put("config", "tiny.json", json.dumps({
        "model_type": "llama", "vocab_size": 128, "hidden_size": 64, "intermediate_size": 96,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
        "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000, "tie_word_embeddings": True,
        "attention_bias": False, "mlp_bias": False, "torch_dtype": "float32"}, sort_keys=True))

    # tokenizer.json (+ NUL + tokenizer_config.json): the fixtures transformers wrote.
    for name in ["tiny_llama", "tokenizer_variant"]:
        tj = fixture("gguf", "tokenizer_reference", name, "tokenizer.json")
        tc = fixture("gguf", "tokenizer_reference", name, "tokenizer_config.json")
        put("tokenizer-json", name + ".json", tj)
        put("tokenizer-json", name + "_with_config.bin", tj + b"\0" + tc)

    # JSONL: selector byte (0 auto, 1 text, 2 alpaca, 3 chat, 4 template; +8 skip bad lines), lines.
    with open(os.path.join(ROOT, "datasets", "eval.jsonl"), "rb") as f:
        alpaca = b"".join(f.readline() for _ in range(3))
    text = b'{"text": "The quick brown fox."}\n{"text": "Second line \\u00e9\\n with escapes"}\n\n'
    chat = (b'{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},'
            b' {"role": "assistant", "content": "Hello!"}]}\r\n'
            b'{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}\n')
    template = b'{"prompt": "Label: great movie", "completion": "positive"}\n{"prompt": "n", "completion": 3}\n'
    put("jsonl", "auto_alpaca.bin", b"\x00" + alpaca)
    put("jsonl", "text.bin", b"\x01" + text)
    put("jsonl", "alpaca.bin", b"\x02" + alpaca)
    put("jsonl", "chat.bin", b"\x03" + chat)
    put("jsonl", "template.bin", b"\x04" + template)
    put("jsonl", "auto_chat_skip.bin", b"\x08\xef\xbb\xbf" + chat + b"not json\n")

    # json: any document; the tokenizer config fixture (wide int, ordered keys) and the escapes.
    put("json", "tokenizer_config.json", fixture("gguf", "tokenizer_reference", "tiny_llama", "tokenizer_config.json"))
    put("json", "escapes.json", b'{"s": "q\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00", "n": [0, -0, 1.5e-3, -2E+2, 9223372036854775808], "e": [{}, []], "x": null}')

    # PEFT adapter: adapter_config.json + NUL + adapter_model.safetensors (r = 2, q_proj and down_proj
    # of layer 0 of the 2-layer, hidden-64 model the target checks against).
    config = {"alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": "tiny", "bias": "none",
              "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layers_pattern": None,
              "layers_to_transform": None, "lora_alpha": 16, "lora_dropout": 0.05, "modules_to_save": None,
              "peft_type": "LORA", "r": 2, "rank_pattern": {}, "revision": None,
              "target_modules": ["q_proj", "down_proj"], "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": False}
    pre = "base_model.model.model.layers.0."
    weights = safetensors([
        (pre + "self_attn.q_proj.lora_A.weight", "F32", [2, 64], f32(ramp(128))),
        (pre + "self_attn.q_proj.lora_B.weight", "F32", [64, 2], f32(ramp(128, 0.001))),
        (pre + "mlp.down_proj.lora_A.weight", "BF16", [2, 96], bf16(ramp(192))),
        (pre + "mlp.down_proj.lora_B.weight", "F16", [64, 2], f16(ramp(128, 0.001))),
    ], metadata={"format": "pt"})
    put("peft-adapter", "adapter.bin", json.dumps(config, indent=2, sort_keys=True).encode() + b"\0" + weights)
    config_re = dict(config, target_modules=r".*\.(q_proj|down_proj)", use_rslora=True)
    put("peft-adapter", "adapter_regex.bin", json.dumps(config_re).encode() + b"\0" + weights)

    # quant state: selector 0 + whole file; 1 + JSON (plain); 3 + JSON (double quant).
    for dq in (False, True):
        whole, js = bnb4_file(dq)
        put("quant-state", "file_%s.bin" % ("nested" if dq else "plain"), b"\x00" + whole)
        put("quant-state", "json_%s.bin" % ("nested" if dq else "plain"), (b"\x03" if dq else b"\x01") + js)


if __name__ == "__main__":
    main()
