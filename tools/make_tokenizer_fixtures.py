#!/usr/bin/env python3
"""Writes the tokenizer's reference fixtures into Tests/Fixtures/tokenizer/.

The expected values come from the Hugging Face `tokenizers` library (Rust, Oniguruma regexes) and
transformers' GGUF loader, so the Swift tokenizer is checked against the implementation the golden
ids came from. Tests read only the committed output; run this again only to change the fixtures:

    python3 -m venv .venv-tok && .venv-tok/bin/pip install gguf numpy tokenizers transformers
    .venv-tok/bin/python tools/make_tokenizer_fixtures.py [--smollm2 DIR]

where DIR holds the `tokenizer.json` transformers' GGUF loader builds from SmolLM2's GGUF (transformers
needs torch for that; `qlora quantize models/SmolLM2-135M-Instruct.Q4_1.gguf -o DIR` writes the same
file, and this script checks its digest against Tests/Fixtures/gguf/tokenizer_reference/smollm2.json).

Files written (deterministic from a fixed seed):

- split_cases.json: {"patterns": {name: regex}, "cases": [{"text": T, name: [piece, ...], ...}]}, the
  pieces `Split(Regex(regex), "isolated").pre_tokenize_str(T)` gives for GPT-2's, Llama 3's and
  Qwen2's split regexes, over hand-picked strings (contractions, digits, whitespace runs before
  letters, newlines, Unicode letters, digits and spaces) and random strings drawn from those classes.
- template_cases.json: [{"name": N, "template": T, "variables": V, "output": O}] (dicts in V written as
  {"__object__": [[key, value], ...]} to keep their order), what transformers'
  chat-template sandbox (`_compile_jinja_template`: jinja2 with trim_blocks, lstrip_blocks, its
  `tojson`, `raise_exception`, `namespace`) renders for small templates that each exercise one part
  of the supported Jinja subset, plus the chat templates of SmolLM2, Llama 3 and Qwen2-style ChatML.
- tiny_cases.json: {name: [{"text": T, "ids": [...], "ids_with_special": [...]}]} for the tiny GGUF
  fixtures tiny_llama (Llama 3 split, BOS added) and tokenizer_variant (GPT-2 split, an ordinary letter
  as BOS, EOS added), from `tokenizers` with the tokenizer.json transformers wrote for them
  (Tests/Fixtures/gguf/tokenizer_reference), over random strings of their small alphabets.
- smollm2_cases.json (with --smollm2): [{"text": T, "ids": [...], "ids_with_special": [...]}], the
  ids `tokenizers` gives for T with that tokenizer.json (add_special_tokens False and True), over the
  same kinds of strings plus added tokens inside text.
"""
import json
import os
import random
import sys

from tokenizers import Regex, pre_tokenizers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "tokenizer")

PATTERNS = {
    "gpt2": r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}

HAND_PICKED = [
    "Hello world", "Hello  world", "Hello   world!", " leading", "trailing  ", "   ", "\n", "a\n\nb",
    "a \n  b", "a\t\tb", "x\r\ny", "end.\n\n", "line1\n  line2\n\tline3", "tab\t(x)", " \t\n \tq",
    "I'm here, you're there, it's 'quoted' and we'll see; they've I'd", "IT'S WE'LL THEY'RE 'S 'T",
    "don'T 'Ll 'rE", "'ſ long s", "'", "''", "'s", "'xyz", "ab'sc",
    "12345678", "in 2004, 1,000,000 and 3.14159", " 7", "x1y22z333w4444", "٣٤٥ arabic-indic",
    "²³ superscripts ½ ¼ Ⅻ roman", "中文字符测试", "日本語のテキスト、句読点。", "한국어 텍스트",
    "café naïve résumé", "e\u0301 combining e\u0301\u0301x", "\u0301start with a mark",
    "ß straße ǅ titlecase", "Ελληνικά Русский עברית العربية", "emoji 😀👍🏽 👨‍👩‍👧 🇫🇷",
    "nbsp\u00a0here thin\u2009space ideographic\u3000space", "line\u2028sep para\u2029sep nel\u0085x",
    "ctrl\x00\x01\x0b\x0c\x1f chars", "\u00a0\u00a0x", "!!! ??? ... ---", " !x", " (a)", "a,b;c:d",
    "<|im_start|>user\nHi there<|im_end|>\n", "<|im_start|><|im_end|><|endoftext|>",
    "text<|im_end|>more", "<|im_start", "<|unknown|> tag", "code: def f(x):\n    return x**2\n",
    "€100 ©2024 ™ ± × ÷", "\ufeffBOM", "\U0001F600\U0001F600", "ab\u200dcd zero\u200bwidth",
]

POOL = (
    list("abcXYZ") + list("0123") + [" "] * 6 + ["\t", "\n", "\r", "\n"] + list(".,!?-()'\"")
    + ["'s", "'S", "'ll", "'RE", "'ve", "'d", "'m", "'t", "'ſ"]
    + ["é", "ß", "中", "日本", "e\u0301", "\u0301", "ǅ", "Ж", "ع"]
    + ["٣", "²", "½", "Ⅻ"]
    + ["\u00a0", "\u2009", "\u3000", "\u2028", "\u0085", "\x0b", "\x00"]
    + ["😀", "👍🏽", "€", "©", "<|im_start|>", "<|im_end|>"]
)


def random_strings(rng, count):
    return ["".join(rng.choice(POOL) for _ in range(rng.randint(1, 24))) for _ in range(count)]


def split_cases(texts):
    splitters = {name: pre_tokenizers.Split(Regex(rx), "isolated") for name, rx in PATTERNS.items()}
    cases = []
    for text in texts:
        case = {"text": text}
        for name, splitter in splitters.items():
            case[name] = [piece for piece, _ in splitter.pre_tokenize_str(text)]
        cases.append(case)
    return {"patterns": PATTERNS, "cases": cases}


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def smollm2_cases(directory, texts):
    from tokenizers import Tokenizer

    path = os.path.join(directory, "tokenizer.json")
    reference = os.path.join(OUT, "..", "gguf", "tokenizer_reference", "smollm2.json")
    with open(path, "rb") as f, open(reference) as r:
        digest, want = fnv1a64(f.read()), json.load(r)["tokenizer.json"]["fnv1a64"]
    if digest != want:
        sys.exit(f"{path}: FNV-1a {digest} is not transformers' {want}")
    tok = Tokenizer.from_file(path)
    return [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids,
             "ids_with_special": tok.encode(t).ids} for t in texts]


SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

CHATML_TEMPLATE = """{%- for message in messages %}
    {%- if loop.first and message.role != 'system' %}
        {{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
    {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

TOOLS_TEMPLATE = """{%- for message in messages %}
    {%- if message.tool_calls is defined %}
        {%- for call in message.tool_calls %}
            {%- if call.function is defined %}{%- set call = call.function %}{%- endif %}
            {{- '[call ' ~ call.name ~ ' ' ~ (call.arguments | tojson) ~ ']' }}
        {%- endfor %}
    {%- elif message.role == 'tool' %}
        {%- if loop.index0 == 0 or messages[loop.index0 - 1].role != 'tool' %}{{- '<results>' }}{%- endif %}
        {{- '(' + message.content + ')' }}
        {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '</results>\\n' }}{%- endif %}
    {%- else %}
        {{- message.role | upper ~ ': ' ~ message.content | trim ~ '\\n' }}
    {%- endif %}
{%- endfor %}
"""

TOOL_MESSAGES = [
    {"role": "user", "content": " Weather in Paris? "},
    {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "weather", "arguments": {"city": "Paris", "days": 2, "units": None}}},
        {"name": "time", "arguments": {"zone": "CET", "precise": True, "offset": -1.5}}]},
    {"role": "tool", "content": "21°C"},
    {"role": "tool", "content": "14:00"},
    {"role": "assistant", "content": "Warm, at two."},
]

CONVERSATIONS = {
    "user": [{"role": "user", "content": "What is the capital of France?"}],
    "system_user_assistant": [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": " Hi! "},
        {"role": "assistant", "content": "Hello.\nHow can I help?"},
        {"role": "user", "content": "Ünïcödé 😀 and \"quotes\""},
    ],
}

TEMPLATE_CASES = [
    ("text_only", "plain text\n", {}),
    ("trailing_newline_dropped", "a\n\n", {}),
    ("output_types", "{{ 1 }} {{ 2.5 }} {{ true }} {{ none }} {{ 'x' }} {{ [1, 'a', none] }} {{ undefined_name }}|", {}),
    ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter", {}),
    ("lstrip_blocks", "line\n    {% if true %}\n    body\n    {% endif %}\nend", {}),
    ("lstrip_not_after_text", "x   {% if true %}y{% endif %}", {}),
    ("lstrip_plus", "a\n  {%+ if true %}b{% endif %}", {}),
    ("whitespace_control", "a  \n  {%- if true -%}  \n b \n {%- endif %}\n{{- ' c ' -}}  \n d", {}),
    ("comments", "a{# note #}\n  {# line #}\nb {#- strip -#} c", {}),
    ("if_elif_else", "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %},{% endfor %}", {}),
    ("loop_variables", "{% for x in items %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}-{% endfor %}", {"items": ["a", "b", "c"]}),
    ("loop_else_and_filter", "{% for x in items if x > 1 %}{{ x }}{{ loop.index }}{% else %}empty{% endfor %}|{% for x in [] %}x{% else %}none{% endfor %}", {"items": [1, 2, 3]}),
    ("loop_dict_items", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}}),
    ("loop_controls", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("set_scoping", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}", {}),
    ("namespace", "{% set ns = namespace(count=0, seen=false) %}{% for i in [1, 2, 3] %}{% set ns.count = ns.count + i %}{% endfor %}{{ ns.count }} {{ ns.seen }}", {}),
    ("operators", "{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 'a' ~ 1 ~ none }} {{ 'ab' + 'cd' }} {{ [1] + [2] }} {{ -3 }}", {}),
    ("comparisons", "{{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'b' }} {{ 2 < 3 }} {{ 'b' >= 'a' }} {{ 'ell' in 'hello' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} if false else 'k' not in d }}", {"d": {"k": 1}}),
    ("logic", "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ not '' }} {{ none or [] }} {{ 'a' if 1 > 2 else 'b' }} {{ 'c' if false }}|", {}),
    ("subscripts_and_attributes", "{{ m['role'] }} {{ m.role }} {{ m.missing }}|{{ xs[0] }} {{ xs[-1] }} {{ xs[5] }}|{{ 'héllo'[1] }}", {"m": {"role": "user"}, "xs": [1, 2, 3]}),
    ("slices", "{{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[::2] }} {{ 'abcdef'[1:4] }} {{ xs[-2:] }} {{ xs[5:] }}", {"xs": [1, 2, 3, 4]}),
    ("filters", "{{ '  a b  ' | trim }}|{{ 'xxaxx' | trim('x') }}|{{ [1, 2] | length }} {{ 'héllo' | length }} {{ d | length }} {{ 'Ab' | upper }}{{ 'Ab' | lower }} {{ 'hello world' | capitalize }} {{ [1, 2, 3] | first }}{{ [1, 2, 3] | last }} {{ [1, 2] | join(', ') }} {{ x | default('dflt') }} {{ '' | default('e', true) }} {{ [3, 1] | reverse | list }} {{ '42' | int + 1 }} {{ 'a-b' | replace('-', '+') }} {{ 5 | string }}", {"d": {"a": 1}}),
    ("tojson", "{{ v | tojson }}|{{ v | tojson(indent=2) }}|{{ s | tojson }}|{{ v | tojson(sort_keys=true, separators=(',', ':')) }}|{{ s | tojson(ensure_ascii=true) }}", {"v": {"b": [1, 2.5, None, True, "x"], "a": {}, "c": []}, "s": "é \"q\" \\ \n\t\u0001 😀 </script>"}),
    ("tests", "{{ x is defined }} {{ y is defined }} {{ y is not defined }} {{ none is none }} {{ 'a' is string }} {{ 3 is number }} {{ d is mapping }} {{ 4 is even }} {{ 3 is odd }} {{ xs is iterable }}", {"x": 1, "d": {}, "xs": []}),
    ("string_methods", "{{ ' a '.strip() }}|{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(('x', 'bc')) }} {{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a b c'.split(' ', 1) }} {{ ', '.join(['x', 'y']) }} {{ 'AbC'.lower() }}{{ 'abc'.upper() }} {{ 'aXbX'.replace('X', '-') }} {{ 'xxhixx'.lstrip('x') }}{{ 'xxhixx'.rstrip('x') }}", {}),
    ("dict_methods", "{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 5) }} {{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | list | length }}{% for pair in d.items() %}{{ pair[0] }}{{ pair[1] }}{% endfor %}", {"d": {"a": 1, "b": "two"}}),
    ("string_escapes", "{{ 'a\\nb\\tc\\\\d\\'e' }}|{{ \"it's\" }}|{{ '\\u00e9\\x41' }}", {}),
    ("list_and_tuple_literals", "{{ [1, [2, 3], 'x'] }} {{ (1, 2) | list }} {{ [] }} {{ [1, 2,] | length }}", {}),
    ("smollm2_user", SMOLLM2_TEMPLATE, {"messages": CONVERSATIONS["user"], "add_generation_prompt": True}),
    ("smollm2_conversation", SMOLLM2_TEMPLATE, {"messages": CONVERSATIONS["system_user_assistant"], "add_generation_prompt": False}),
    ("llama3_conversation", LLAMA3_TEMPLATE, {"messages": CONVERSATIONS["system_user_assistant"], "add_generation_prompt": True, "bos_token": "<|begin_of_text|>"}),
    ("chatml_block_template", CHATML_TEMPLATE, {"messages": CONVERSATIONS["user"], "add_generation_prompt": True}),
    ("tool_calls", TOOLS_TEMPLATE, {"messages": TOOL_MESSAGES}),
]


def ordered(value):
    """Dicts as {"__object__": [[key, value], ...]}, so readers keep the key order templates see."""
    if isinstance(value, dict):
        return {"__object__": [[k, ordered(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


def template_cases():
    from transformers.utils.chat_template_utils import _compile_jinja_template

    return [{"name": name, "template": template, "variables": {k: ordered(v) for k, v in variables.items()},
             "output": _compile_jinja_template(template).render(**variables)}
            for name, template, variables in TEMPLATE_CASES]


TINY_POOL = list("abcdefghij") + [" ", " ", "  ", "\n", "\n\n", ".", ",", "'", "'a", "0", "1", "01", "z", "é",
                                   "<|im_start|>", "<|im_end|>", "<special_x>", "<repo_name>"]


def tiny_cases(rng):
    from tokenizers import Tokenizer

    cases = {}
    for name in ["tiny_llama", "tokenizer_variant"]:
        tok = Tokenizer.from_file(os.path.join(OUT, "..", "gguf", "tokenizer_reference", name, "tokenizer.json"))
        texts = ["".join(rng.choice(TINY_POOL) for _ in range(rng.randint(1, 16))) for _ in range(150)]
        cases[name] = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids,
                        "ids_with_special": tok.encode(t).ids} for t in texts]
    return cases

SENTENCEPIECE_CORPUS = [
    "The quick brown fox jumps over the lazy dog.", "Hello world, hello there!", "A tokenizer splits text into tokens.",
    "Byte fallback keeps every character encodable.", "Les élèves étudient à l'école.", "naïve café résumé",
    "the theory of the thing", "  indented line\n\tand a tab", "numbers 12345 and 2026", "It's what we'll see.",
    "über Straße", "hello hello hello world world",
]

SENTENCEPIECE_TEXTS = [
    "Hello world", "Hello  world", "hello   world!", " leading space", "  two leading", "trailing ", "   ",
    " ", "\n", "a\nb", "line1\n  line2\n\tline3", "The quick brown fox", "the theory", "café naïve", "e\u0301 combining",
    "über Straße", "Ελληνικά Русский", "中文字符测试", "日本語", "emoji 😀👍🏽 🇫🇷", "\u00a0nbsp", "ctrl\x00\x01 chars",
    "zzz qqq", "ŋ ǅ", "€100 ©2026", "<s>hello</s>", "a<s>b", "<s> spaced </s> ", "</s></s>",
    "<start_of_turn>user\nHi<end_of_turn>", " <start_of_turn> x", "<unk>", "x<unk>y", "▁literal▁marks", "<0x41>",
    "tab\tsep", "\ufeffBOM", "🙂", "ab😀cd", "",
]

SENTENCEPIECE_POOL = (list("abcdeht") + ["the", "hello", "world", " ", " ", "  ", "\n", "\t", ".", ",", "'", "é", "ß",
                      "中", "😀", "ŋ", "e\u0301", "\u00a0", "▁", "<s>", "</s>", "<start_of_turn>", "<unk>", "1", "42"])


def sentencepiece_tokenizers():
    """Tiny tokenizers in the styles transformers gives SentencePiece-converted models: a BPE with
    byte_fallback and fuse_unk over <unk>, <s>, </s>, the 256 <0xNN> tokens and pieces trained here."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    trainer_tok = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer_tok.normalizer = normalizers.Replace(" ", "▁")
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=160, special_tokens=["<unk>"], limit_alphabet=40, show_progress=False)
    trainer_tok.train_from_iterator(SENTENCEPIECE_CORPUS * 3, trainer)
    trained = json.loads(trainer_tok.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}

    def build(byte_range, unk_merges=False, ignore_merges=False):
        v = dict(vocab)
        for b in byte_range:
            v[f"<0x{b:02X}>"] = 3 + b
        base = 3 + 256
        for token, _ in sorted(trained["vocab"].items(), key=lambda kv: kv[1]):
            if token not in v:
                v[token] = base
                base += 1
        v["<start_of_turn>"] = base
        v["<end_of_turn>"] = base + 1
        merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in trained["merges"]]
        tok = Tokenizer(models.BPE(vocab=v, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True,
                                   ignore_merges=ignore_merges))
        tok.add_special_tokens([AddedToken(t, normalized=False, special=True)
                                for t in ["<unk>", "<s>", "</s>", "<start_of_turn>", "<end_of_turn>"]])
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
        return tok

    out = {}
    # Gemma 2/3 (transformers' GemmaTokenizer / GemmaConverter).
    tok = build(range(256))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    out["gemma"] = tok
    # Llama 2 / early Mistral tokenizer.json as shipped (LlamaConverter, legacy).
    tok = build(range(256))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    out["llama2_legacy"] = tok
    # transformers 5's LlamaTokenizer (non-legacy): Metaspace, prepend_scheme "first".
    tok = build(range(256))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    out["llama_metaspace"] = tok
    # Only ASCII byte tokens (others fuse into <unk>), ignore_merges, Metaspace "always" with split.
    tok = build(range(128), ignore_merges=True)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    out["partial_bytes_unk"] = tok
    return out


def sentencepiece_cases(rng):
    """{name: {"tokenizer": tokenizer.json, "cases": [...], "decode_cases": [...]}}."""
    texts = SENTENCEPIECE_TEXTS + ["".join(rng.choice(SENTENCEPIECE_POOL) for _ in range(rng.randint(1, 12)))
                                   for _ in range(60)]
    result = {}
    for name, tok in sentencepiece_tokenizers().items():
        cases = []
        for t in texts:
            ids = tok.encode(t, add_special_tokens=False).ids
            cases.append({"text": t, "ids": ids, "ids_with_special": tok.encode(t).ids,
                          "decoded": tok.decode(ids, skip_special_tokens=False),
                          "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
        size = tok.get_vocab_size()
        decode_cases = []
        for _ in range(40):
            ids = [rng.choice([rng.randrange(size), rng.randrange(3, 259), rng.randrange(0xC0 + 3, 0xF8 + 3)])
                   for _ in range(rng.randint(1, 8))]
            ids = [i for i in ids if tok.id_to_token(i) is not None]
            decode_cases.append({"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                                 "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
        result[name] = {"tokenizer": json.loads(tok.to_str()), "cases": cases, "decode_cases": decode_cases}
    return result


def write(name, value):
    """JSON with one case per line (lists of cases are the bulk of each file)."""
    def dumps(v):
        return json.dumps(v, ensure_ascii=False)

    def lines(items):
        return "[\n" + ",\n".join(dumps(item) for item in items) + "\n]"

    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        if isinstance(value, list):
            f.write(lines(value))
        else:
            f.write("{\n" + ",\n".join(f"{dumps(k)}: {lines(v) if isinstance(v, list) else dumps(v)}"
                                       for k, v in value.items()) + "\n}")
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    sp = sentencepiece_cases(random.Random(12))
    with open(os.path.join(OUT, "sentencepiece_cases.json"), "w", encoding="utf-8") as f:
        json.dump(sp, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    if "--sentencepiece-only" in sys.argv:
        return
    rng = random.Random(20261129)
    texts = HAND_PICKED + random_strings(rng, 300)
    write("split_cases.json", split_cases(texts))
    write("template_cases.json", template_cases())
    write("tiny_cases.json", tiny_cases(random.Random(4)))
    if "--smollm2" in sys.argv:
        path = sys.argv[sys.argv.index("--smollm2") + 1]
        write("smollm2_cases.json", smollm2_cases(path, HAND_PICKED + random_strings(rng, 100)))


if __name__ == "__main__":
    main()
