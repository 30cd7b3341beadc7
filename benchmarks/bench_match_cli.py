"""`tokrex match` end to end: process start, store load, match, print 20 rows.

Builds (once, cached under benchmarks/out/) a corpus store of at least 10M tokens: Python's
bundled documentation (``pydoc_data.topics``) repeated, tokenized with a GPT-2-style byte-level
BPE trained here. Then runs ``tokrex match`` as a subprocess under ``/usr/bin/time -v`` and
reports wall time and peak memory against the targets (3 s, 1.5 GB), beside a naive
per-token Python loop over the same ids for the same pattern.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "match_cli"
TARGET_S = 3.0
TARGET_MB = 1536
PATTERNS = [
    '"[A-Z][a-z]+"',                      # a single token
    '"The" "[a-z]+" "[a-z]+"?',           # a 3-atom sequence
    '"[a-z]+" (?= " the"s)',              # a lookahead
    '"The" @"[a-z]+" "statement"',        # a target marker
    '<"[A-Z][a-z]+">',                    # a word atom
    '(?<a>.) .* \\k<a>',                  # induction
]


def _train_tokenizer(dest: Path, vocab_size: int) -> Path:
    from pydoc_data.topics import topics
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator([topics[k] for k in sorted(topics)], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    fast.save_pretrained(str(dest))
    return dest


def _store(min_tokens: int, vocab_size: int) -> Path:
    """The cached benchmark store, built when missing."""
    from pydoc_data.topics import topics

    from tokrex.corpus import CorpusConfig, build_corpus, open_corpus

    root = OUT / f"tok{min_tokens}_v{vocab_size}"
    store = root / "store"
    try:
        if open_corpus(store).n_tokens >= min_tokens:
            return store
    except Exception:
        pass
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    tok_dir = _train_tokenizer(root / "tokenizer", vocab_size)
    docs = [topics[k] for k in sorted(topics)]
    chars = sum(map(len, docs))
    copies = max(1, int(min_tokens / (chars / 4.0) * 1.3) + 1)  # ~4 characters per token
    while True:
        data = root / "docs.jsonl"
        with data.open("w", encoding="utf-8") as f:
            for _ in range(copies):
                for text in docs:
                    f.write(json.dumps({"text": text}) + "\n")
        t0 = time.perf_counter()
        corpus = build_corpus(CorpusConfig(inputs=[data], tokenizer=str(tok_dir), store=store, replace=True, progress=False))
        print(f"built store: {corpus.n_docs:,} docs, {corpus.n_tokens:,} tokens, vocab {corpus.vocab.size:,} "
              f"in {time.perf_counter() - t0:.1f} s ({corpus.n_tokens / (time.perf_counter() - t0) / 1e6:.1f}M tokens/s)")
        data.unlink()
        if corpus.n_tokens >= min_tokens:
            return store
        copies = int(copies * min_tokens / corpus.n_tokens) + 1


def _tokrex_cmd() -> list[str]:
    script = Path(sys.executable).parent / "tokrex"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tokrex.cli.app"]


def _run_once(args: list[str]) -> tuple[float, float, float | None, str]:
    """(wall seconds, CPU seconds (user + system), peak RSS in MB, stdout) of one subprocess run."""
    timer = Path("/usr/bin/time")
    cmd = ([str(timer), "-v"] if timer.exists() else []) + args
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**_env(), "COLUMNS": "120"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"tokrex match failed ({proc.returncode}): {proc.stderr[-2000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    peak = int(m.group(1)) / 1024 if m else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", proc.stderr))
    return wall, cpu, peak, proc.stdout


def _env() -> dict:
    return dict(os.environ)


def _naive_loop(store: Path, pattern: str) -> tuple[float, int]:
    """The first pattern's single-token regex, checked token by token in Python (for the ratio)."""
    import regex

    from tokrex.corpus import open_corpus

    corpus = open_corpus(store)
    rx = regex.compile(pattern.strip('"'))
    core = corpus.vocab.core
    ids = corpus.ids.tolist()
    t0 = time.perf_counter()
    n = sum(1 for i in ids if rx.fullmatch(core[i]))
    return time.perf_counter() - t0, n


def main(quick: bool = False) -> None:
    sys.path.insert(0, str(HERE))
    from machine import describe

    print(describe())
    min_tokens = 1_000_000 if quick else 10_000_000
    store = _store(min_tokens, vocab_size=16_000)
    repeats = 2 if quick else 3
    for pattern in PATTERNS:
        args = [*_tokrex_cmd(), "match", pattern, "--store", str(store), "--limit", "20"]
        _run_once(args)  # warm the page cache
        runs = [_run_once(args) for _ in range(repeats)]
        walls = [r[0] for r in runs]
        cpu = min(r[1] for r in runs)
        peak = max(r[2] or 0 for r in runs)
        summary = runs[-1][3].strip().splitlines()[-1]
        ok = "OK" if min(walls) <= TARGET_S and peak <= TARGET_MB else "MISSED"
        print(f"tokrex match {pattern!r}: wall best {min(walls):.2f} s, median {statistics.median(walls):.2f} s "
              f"(target <= {TARGET_S} s), CPU {cpu:.2f} s, peak RSS {peak:.0f} MB (target <= {TARGET_MB} MB) [{ok}]")
        print(f"    {summary}")
    print(f"(system load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs during the runs; "
          "wall time grows with other load, CPU time much less)")
    naive_s, n = _naive_loop(store, PATTERNS[0])
    print(f"naive per-token Python loop for {PATTERNS[0]} over the loaded ids alone: {naive_s:.2f} s ({n:,} positives)")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
