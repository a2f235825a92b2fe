#!/usr/bin/env python3
"""Writes Tests/Fixtures/regex/fullmatch_cases.json: Python's own `re.fullmatch` answers for the
`target_modules` patterns the engine's matcher (Sources/QLoRAFormats/PEFT/PythonRegex) must agree with.

PEFT selects LoRA target modules with `re.fullmatch(config.target_modules, key)` for a string
pattern (peft/tuners/tuners_utils.py, `check_target_module_exists`). Run with the python3 on the
machine (standard library only); tests read only the committed output:

    python3 tools/make_regex_fixtures.py

"texts" are module names and edge-case strings; each case is one of
- {"pattern", "matches": "0110..."}: Python accepts the pattern; its answer per text, in order.
- {"pattern", "python_error": msg}: Python rejects the pattern (re.error); the engine must refuse it too.
- {"pattern", "unsupported": true}: valid Python that is not a regular pattern (backreference,
  lookaround, ...): the engine refuses it by name. Python's answers are still recorded.
- {"pattern", "equivalent", "catastrophic": true, "matches": ...}: a pattern on which Python's
  backtracking takes exponential time on long texts. Its answers on the long texts come from the
  `equivalent` pattern (the same language, written without nested quantifiers); the script checks the
  two agree on every text short enough for Python to finish.
"""
import json
import os
import re
import sys

if sys.version_info[:2] < (3, 11):
    sys.exit("needs Python 3.11+ (atomic groups, possessive quantifiers, global-flag rules)")

MODULES = [f"model.layers.{layer}.{block}.{proj}"
           for layer in (0, 1, 11)
           for block, projs in (("self_attn", ("q_proj", "k_proj", "v_proj", "o_proj")),
                                ("mlp", ("gate_proj", "up_proj", "down_proj")))
           for proj in projs]
TEXTS = MODULES + [
    "lm_head", "model.embed_tokens", "model.norm", "model.layers.3.input_layernorm",
    "base_model.model.model.layers.0.self_attn.q_proj", "q_proj", "Q_PROJ", "model.layers.1.self_attn.v_proj\n",
    "", "a", "b", "ab", "aab", "aaab", "aaaa", "x", "xx", "xxx", "xxxx", "Z", "a\n", "\n", "ab\n",
    "tab\tsep", "under_score", "\u0663\u0664", "\u00fcnic\u00f6de_proj", "\u03b1\u03b2\u03b3", "MODEL.q_proj",
    "{", "a{", "a{1", "a{}", "a{x}", "]", "-", "a-", "\x08", "\x00", "k", "K", "\u212a",
    "a" * 40, "a" * 40 + "b", "x" * 40 + "y", "model.layers.10.mlp.down_proj" * 2,
]

PATTERNS = [
    r".*_proj", r".*\.(q|k|v)_proj", r".*layers\.1\..*(q|v)_proj", r"model\.layers\.\d+\.mlp\..*",
    r"(?:.*\.)?(q_proj|v_proj)", r".*\.[0-9]{1,2}\..*", r".*\.[0-9]{2}\..*", r".*\.\d{,1}\..*",
    r"lm_head|.*embed.*", r"[a-z_.0-9]+", r"[^.]+", r"\w+(\.\w+)*", r"\w+", r"\S+", r"\W+", r"\D+",
    r".*\bq_proj", r".*\Bq_proj", r".*\b", r"\B", r"^model.*proj$", r"model.*proj$", r".*proj\Z", r"\Amodel.*",
    r"(?i)MODEL.*Q_PROJ", r"(?i:model).*q_proj", r".*(?i:Q)_proj", r"(?i)k", r"(?i)[a-k]", r"(?s).*", r".*", r"",
    r"a*", r"(a|aa)*", r"x{2,3}", r"a{3}", r"a{,2}b", r"a{2,}", r"a{,}", r"a{", r"a{1", r"a{x}", r"{", r"a{}",
    r"[]a]*", r"[^]a]*", r"[a-]+", r"[-a]+", r"[\w.]+", r"[\d]+", r"\d+", r"[\s]", r"\s", r"[\b]", r"[\]]",
    r"\x61+", r"\u0061\U00000062", r"\141", r"\0", r"[\141]", r"[\1]", r"a|b|", r"|a", r"()", r"(?:)",
    r"(?P<name>a)+", r"(?#comment)a", r"a(?#c)b", r"(?:^)*a", r"$", r"a$", r"a\Z", r".*\n", r"(?m)a$\n?",
    r"(?m)^a", r"(?s).*_proj\n", r".*_proj$", r"a*?b", r"a+?b", r"a??b", r"a{1,2}?b", r"[\u03b1-\u03c9]+",
    r"\u00fc.*", r"(?a)\w+", r"(?-i:a)", r"(?i)(?-i:a)b", r"(?i:a(?-i:b))", r"\.", r"a.b", r"[.]",
    r"model\.layers\.(0|1)\.(self_attn|mlp)\.(q|gate)_proj", r"(?:(?:a|b)*c)?a+", r"[^\W\d]+",
    # Invalid in Python: the engine must refuse them too.
    r"*a", r"a**", r"(a", r"a)", r"[a", r"\q", r"a{2,1}", r"(?i)a(?s)b", r"a|*", r"(?<n>a)", r"\8",
    r"[z-a]", r"[\d-z]", r"\x6", r"a{1}{2}", r"^*", r"\b+", r"(?z)", r"(?P<1>a)",
]

UNSUPPORTED = [
    r"(a)\1", r"(?P<x>a)(?P=x)", r"a(?=b)b", r"a(?!b).", r".(?<=a)b", r".(?<!a)b", r"(a)?(?(1)b|c)",
    r"(?>a*)a", r"a*+a", r"a++", r"a?+", r"\N{LATIN SMALL LETTER A}", r"(?x) a",
]

# (pattern, equivalent without nested quantifiers)
CATASTROPHIC = [
    (r"(.+)+Z|.*_proj", r".+Z|.*_proj"),
    (r"(.+)+Z", r".+Z"),
    (r"(a*)*b", r"a*b"),
    (r"(.|.)*Z", r".*Z"),
    (r"(.|.)*Z|.*_proj", r".*Z|.*_proj"),
    (r"(x+x+)+y", r"xx+y"),
    (r"(\w|\w)*_proj", r"\w*_proj"),
    (r"((a+)+)+$", r"a+"),
]
SHORT = 14  # texts at most this long are safe for Python's backtracking on the patterns above


def answers(pattern, texts):
    """One character per text, in the order of the fixture's "texts": "1" for a match, "0" for none."""
    compiled = re.compile(pattern)
    return "".join("1" if compiled.fullmatch(t) is not None else "0" for t in texts)


def main():
    cases = []
    for p in PATTERNS:
        try:
            re.compile(p)
        except re.error as e:
            cases.append({"pattern": p, "python_error": str(e)})
            continue
        cases.append({"pattern": p, "matches": answers(p, TEXTS)})
    for p in UNSUPPORTED:
        re.compile(p)  # valid Python
        cases.append({"pattern": p, "unsupported": True, "matches": answers(p, TEXTS)})
    for p, eq in CATASTROPHIC:
        short = [t for t in TEXTS if len(t) <= SHORT]
        assert answers(p, short) == answers(eq, short), (p, eq)
        cases.append({"pattern": p, "equivalent": eq, "catastrophic": True, "matches": answers(eq, TEXTS)})
    out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "regex", "fullmatch_cases.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"python": sys.version.split()[0], "texts": TEXTS, "cases": cases}, f, ensure_ascii=True, indent=0)
        f.write("\n")
    print(f"wrote {out}: {len(cases)} patterns x {len(TEXTS)} texts")


if __name__ == "__main__":
    main()
