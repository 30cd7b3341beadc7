"""Matcher throughput (issue 3, section 7): tokens per second of ``CompiledPattern.run``.

The corpus is real-looking text that ships with Python: the ``pydoc_data.topics`` reference
pages plus every docstring of the standard library, tokenized with a GPT-2-style byte-level
BPE trained here (on those texts and the standard library's source, 50k vocabulary; 8k in
quick mode) and repeated until it holds >= 10M tokens (1M in quick mode), in memory.

Each pattern is timed after compilation (best of a few runs), for its positives and for its
longest-match spans.  Beside each figure: the naive alternative, tests/reference_matcher.py
(a backtracking matcher looping over every start position in Python), timed on a slice cut
into 200-token documents and extrapolated -- the ratio is the point, not the exact baseline.
"""

from __future__ import annotations

import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CASES = [
    # (label, pattern, target tokens/s); "x" matches a token's core text, " x"s its surface.
    ("single-token regex", '"[A-Z][a-z]+"', 100e6),
    ("single-token class, needs context (w)", '["[a-z]+"w & !"the"]', None),
    ("sequence of 3 atoms", '" the"s "[a-z]+" " of"s', 20e6),
    ("bounded quantifiers + alternation", '("The" | " the"s) "[a-z]+"{1,3} ("." | ",")', 20e6),
    ('"x"* inside a sequence', '"\\(" "[^()]+"* "\\)"', 20e6),
    ("4 atoms with ?, {m,n} and |", '"[A-Z][a-z]+" ("is" | "are") "a"? "[a-z]+"{1,2}', 20e6),
    ("lookahead + lookbehind", '(?<="the") "[a-z]+" (?!"of")', 10e6),
    ("@ on a +", '"the" @"[a-z]+"+ ("of" | "is")', 10e6),
    ("@ with lookbehind", '(?<="def") @. "[a-z_]+"', 10e6),
    ("word atom", '<"[A-Z][a-z]+ing">', 10e6),
    ("induction (?<a>.) .* \\k<a>", "(?<a>.) .* \\k<a>", 1e6),
    ("induction, capitalized, bounded gap", '(?<a>"[A-Z][a-z]+") .{1,50} @\\k<a>', 1e6),
    ("repeat ahead (?= .{0,5} \\k<a>)", '(?<a>"[a-z]+") (?= .{0,5} \\k<a>)', 1e6),
]


def _texts() -> tuple[list[str], list[str]]:
    """(prose documents, source files): pydoc topics and stdlib docstrings; stdlib sources."""
    from pydoc_data.topics import topics

    root = Path(sysconfig.get_paths()["stdlib"])
    sources = []
    for p in sorted(root.rglob("*.py")):
        if "site-packages" not in p.parts:
            try:
                sources.append(p.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, OSError):
                pass
    docstrings = [part for s in sources for part in s.split('"""')[1::2] if len(part) >= 200]
    return [topics[k] for k in sorted(topics)] + docstrings, sources


def build(quick: bool):
    """(vocab, ids, doc_offsets, seconds spent, distinct tokens, repetitions) for the corpus;
    the tokenizer and token ids are kept under benchmarks/out/match/ and reused."""
    from tokenizers import Tokenizer

    from tokrex.corpus import Vocab

    t0 = time.perf_counter()
    cache = ROOT / "benchmarks" / "out" / "match" / ("quick" if quick else "full")
    target = 1_000_000 if quick else 10_000_000
    if (cache / "offsets.npy").is_file():
        tok = Tokenizer.from_file(str(cache / "tokenizer.json"))
        base_ids = np.load(cache / "ids.npy")
        base_offsets = np.load(cache / "offsets.npy")
    else:
        tok, base_ids, base_offsets = _tokenize(quick)
        cache.mkdir(parents=True, exist_ok=True)
        tok.save(str(cache / "tokenizer.json"))
        np.save(cache / "ids.npy", base_ids)
        np.save(cache / "offsets.npy", base_offsets)
    vocab = Vocab.from_tokenizer(tok)
    base = int(base_ids.size)
    reps = -(-target // base)
    ids = np.tile(base_ids, reps)
    lengths = np.tile(np.diff(base_offsets), reps)
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return vocab, ids, offsets, time.perf_counter() - t0, base, reps


def _tokenize(quick: bool):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    prose, sources = _texts()
    if quick:
        prose = prose[:2000]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    size = 8_000 if quick else 50_000
    trainer = trainers.BpeTrainer(vocab_size=size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(prose + ([] if quick else sources), trainer)
    docs = [np.array(e.ids, dtype=np.uint16) for e in tok.encode_batch(prose)]
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum([d.size for d in docs], out=offsets[1:])
    return tok, np.concatenate(docs), offsets


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _naive_rate(pattern: str, vocab, ids: np.ndarray, budget: float = 0.5) -> float:
    """Tokens/s of the reference matcher on 200-token documents cut from the corpus start."""
    from tests.reference_matcher import reference_match
    from tokrex.pattern import parse

    query = parse(pattern)
    n, spent = 200, 0.0
    while spent < budget and n < ids.size:
        offsets = np.arange(0, n + 1, 200, dtype=np.int64)
        t = time.perf_counter()
        reference_match(query, vocab, ids[:n], offsets)
        spent = time.perf_counter() - t
        rate = n / spent
        n *= 4
    return rate


def _fmt(rate: float) -> str:
    return f"{rate / 1e6:8.1f}M" if rate >= 1e6 else f"{rate / 1e3:8.1f}k"


def main(quick: bool = False) -> None:
    from tokrex.pattern import compile
    from tokrex.pattern.layout import Layout, layout_for, vocab_tables

    vocab, ids, offsets, built, base, reps = build(quick)
    n = ids.size
    print(f"corpus: {n:,} tokens in {offsets.size - 1:,} documents (pydoc topics and stdlib docstrings, {base:,} "
          f"tokens, repeated {reps}x); BPE vocabulary {vocab.size:,}; ready in {built:.1f} s")

    rx_vocab = _best(lambda: compile('"[A-Z][a-z]+"', vocab), 3)
    print(f"compile '\"[A-Z][a-z]+\"' over the {vocab.size:,}-entry vocabulary: {rx_vocab * 1e3:.0f} ms "
          f"(target <= 500 ms for 50k)")
    tables = vocab_tables(vocab)
    lay_s = _best(lambda: Layout(ids, offsets, tables), 1)
    print(f"corpus layout (sentinels between documents; built once per corpus, then cached): {lay_s * 1e3:.0f} ms")
    layout_for(ids, offsets, tables)

    repeat = 3 if quick else 2
    print(f"\n{'pattern':40} {'positives':>11} {'tok/s':>9} {'spans tok/s':>12} {'naive tok/s':>12} "
          f"{'ratio':>8} {'target':>8}")
    for label, pattern, target in CASES:
        p = compile(pattern, vocab)
        result = p.run(ids, offsets)
        t_pos = _best(lambda: p.run(ids, offsets), repeat)
        t_span = _best(lambda: p.run(ids, offsets).match_end, repeat)
        naive = _naive_rate(pattern, vocab, ids, 0.2 if quick else 0.5)
        rate = n / t_pos
        goal = "       -" if target is None else f"{_fmt(target)} {'ok' if rate >= target else 'MISSED'}"
        print(f"{label:40} {result.n_positives:>11,} {_fmt(rate)} {_fmt(n / t_span):>12} {_fmt(naive):>12} "
              f"{rate / naive:>7.0f}x {goal}", flush=True)
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\n'tok/s': run() for the positives; 'spans tok/s': positives plus the longest-match spans (a second, "
          f"min-plus pass); 'naive': tests/reference_matcher.py on 200-token documents cut from the corpus start, "
          f"extrapolated. Peak memory of this process: {peak:.2f} GiB (the corpus, its BPE training, every run).")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
