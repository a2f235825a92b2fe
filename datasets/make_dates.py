#!/usr/bin/env python3
"""Writes the bundled task: dates written out in words, to be rewritten as ISO 8601 (YYYY-MM-DD).

Deterministic (fixed seed, standard library only): running it again rewrites train.jsonl and
eval.jsonl byte for byte. The random numbers come from SplitMix64 written out below (the same
generator as the engine's SeededRNG), not from the `random` module, whose sample() and randrange()
Python does not promise to keep across versions. The held-out split shares no calendar date with
the training split.

    python3 datasets/make_dates.py            # writes datasets/train.jsonl and datasets/eval.jsonl
    python3 datasets/make_dates.py --check    # exits 1 if the committed files differ from a fresh run
"""
import datetime
import json
import os
import sys

SEED = 20250505
TRAIN_COUNT = 3000
EVAL_COUNT = 300
FIRST_DAY = datetime.date(1950, 1, 1)
LAST_DAY = datetime.date(2049, 12, 31)

INSTRUCTION = "Convert the date to ISO 8601 format (YYYY-MM-DD). Answer with the date only."

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
MONTH_ABBREVIATIONS = [m[:3] for m in MONTHS]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class SplitMix64:
    """Steele, Lea and Flood's SplitMix64 (2014): a 64-bit state stepped by the golden gamma."""

    MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.state = seed & self.MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & self.MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self.MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self.MASK
        return z ^ (z >> 31)

    def below(self, n):
        """A uniform integer in [0, n): multiply-shift (Lemire), bias below 2^-32 for n < 2^32."""
        return (self.next() * n) >> 64

    def sample(self, n, k):
        """k distinct integers from range(n), by a partial Fisher-Yates shuffle over a dict."""
        swapped = {}
        out = []
        for i in range(k):
            j = i + self.below(n - i)
            out.append(swapped.get(j, j))
            swapped[j] = swapped.get(i, i)
        return out


def ordinal(day):
    """1 -> 1st, 2 -> 2nd, 11 -> 11th, 22 -> 22nd."""
    if day in (11, 12, 13):
        return f"{day}th"
    return f"{day}" + {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


# Each way of writing a date: (name, function of a datetime.date). One line per form.
FORMS = [
    ("month day, year", lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}"),
    ("day month year", lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}"),
    ("mon day, year", lambda d: f"{MONTH_ABBREVIATIONS[d.month - 1]} {d.day}, {d.year}"),
    ("day mon year", lambda d: f"{d.day} {MONTH_ABBREVIATIONS[d.month - 1]} {d.year}"),
    ("month dayth, year", lambda d: f"{MONTHS[d.month - 1]} {ordinal(d.day)}, {d.year}"),
    ("the dayth of month, year", lambda d: f"the {ordinal(d.day)} of {MONTHS[d.month - 1]}, {d.year}"),
    ("weekday, month day, year",
     lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}"),
]


def record(rng, day):
    _, write = FORMS[rng.below(len(FORMS))]
    return {"instruction": INSTRUCTION, "input": write(day), "output": day.isoformat()}


def build():
    rng = SplitMix64(SEED)
    span = LAST_DAY.toordinal() - FIRST_DAY.toordinal() + 1
    ordinals = rng.sample(span, EVAL_COUNT + TRAIN_COUNT)  # distinct dates
    days = [datetime.date.fromordinal(FIRST_DAY.toordinal() + o) for o in ordinals]
    eval_records = [record(rng, d) for d in days[:EVAL_COUNT]]
    train_records = [record(rng, d) for d in days[EVAL_COUNT:]]
    return train_records, eval_records


def jsonl(records):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    train_records, eval_records = build()
    files = {"train.jsonl": jsonl(train_records), "eval.jsonl": jsonl(eval_records)}
    if "--check" in sys.argv[1:]:
        stale = []
        for name, text in files.items():
            try:
                with open(os.path.join(here, name), encoding="utf-8") as f:
                    if f.read() != text:
                        stale.append(name)
            except FileNotFoundError:
                stale.append(name)
        if stale:
            print("differs from a fresh run: " + ", ".join(stale), file=sys.stderr)
            return 1
        print("train.jsonl and eval.jsonl match the generator")
        return 0
    for name, text in files.items():
        with open(os.path.join(here, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        print(f"wrote {name}: {text.count(chr(10))} records, {len(text.encode())} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
