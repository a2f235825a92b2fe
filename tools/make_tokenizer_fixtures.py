#!/usr/bin/env python3
"""Writes the tokenizer's reference fixtures into Tests/Fixtures/tokenizer/.

The expected values come from the Hugging Face `tokenizers` library (Rust, Oniguruma regexes) and
transformers' GGUF loader, so the Swift tokenizer is checked against the implementation the golden
ids came from. Tests read only the committed output; run this again only to change the fixtures:

    python3 -m venv /tmp/tok-venv && /tmp/tok-venv/bin/pip install gguf numpy tokenizers transformers
    /tmp/tok-venv/bin/python tools/make_tokenizer_fixtures.py [--smollm2 DIR]

where DIR holds the `tokenizer.json` transformers' GGUF loader builds from SmolLM2's GGUF (transformers
needs torch for that; `qlora quantize models/SmolLM2-135M-Instruct.Q4_1.gguf -o DIR` writes the same
file, and this script checks its digest against Tests/Fixtures/gguf/tokenizer_reference/smollm2.json).

Files written (deterministic from a fixed seed):

- split_cases.json: {"patterns": {name: regex}, "cases": [{"text": T, name: [piece, ...], ...}]}, the
  pieces `Split(Regex(regex), "isolated").pre_tokenize_str(T)` gives for GPT-2's, Llama 3's and
  Qwen2's split regexes, over hand-picked strings (contractions, digits, whitespace runs before
  letters, newlines, Unicode letters, digits and spaces) and random strings drawn from those classes.
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
    rng = random.Random(20261129)
    texts = HAND_PICKED + random_strings(rng, 300)
    write("split_cases.json", split_cases(texts))
    if "--smollm2" in sys.argv:
        path = sys.argv[sys.argv.index("--smollm2") + 1]
        write("smollm2_cases.json", smollm2_cases(path, HAND_PICKED + random_strings(rng, 100)))


if __name__ == "__main__":
    main()
