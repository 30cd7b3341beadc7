"""`tokrex search`: the ranking query alone and the command end to end, beside plain pandas.

Runs on the synthetic store of ``synthetic.py`` (the one ``bench_store`` measures, built once under
benchmarks/out/synthetic/): 10M tokens (Zipf-distributed ids over a 5,000-word vocabulary, 10,000
documents), an SAE of 16,384 latents with about 32 firings per token (power-law latent
frequencies, ~320M firing rows, float16), a latent planted on ``the`` so the top of the ranking
means something. The pattern is the single token ``"the"`` (~10% of tokens). Figures (warm page
cache):

- ranking alone: ``tokrex.query.rank`` (numpy engine over the token-major index), target <= 0.5 s;
  the duckdb engine (SQL over the Parquet firings) on the same positives;
- pandas: ``read_parquet`` of every firing + ``merge`` with the positives + ``groupby`` (the
  straightforward implementation), read and join timed apart;
- ``tokrex search`` as a subprocess (process start to printed report), target <= 1.5 s, and whether
  that path imported torch, transformers or pandas.

Wall times on a shared machine grow with its load (printed before and after); the CPU time of
each run (all threads) is printed beside them as the contention-free cost.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RANK_TARGET_S = 0.5
CLI_TARGET_S = 1.5


def make_store(quick: bool) -> tuple[Path, str, str]:
    """The synthetic store (with both derived indexes built), its SAE id and the pattern."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    from synthetic import PATTERN, SAE_ID, synthetic_store
    from tokrex.corpus import open_corpus
    from tokrex.store import open_firings

    store = synthetic_store(quick)
    firings = open_firings(open_corpus(store), SAE_ID)
    firings.token_index(progress=True)
    firings.latent_index(progress=True)
    return store, SAE_ID, PATTERN


def _best(fn, repeat: int) -> tuple[float, float, float]:
    """Best and median wall time, and the CPU time (all threads) of the best run."""
    times = []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t, time.process_time() - c))
    best = min(times)
    return best[0], statistics.median(w for w, _ in times), best[1]


def _child_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _pandas_rank(parts: list[Path], positives: np.ndarray, latents) -> tuple[float, float]:
    """The straightforward implementation: read all firings, merge with positives, group by latent."""
    import pandas as pd

    t0 = time.perf_counter()
    df = pd.concat([pd.read_parquet(p, columns=["token", "latent", "act"]) for p in parts], ignore_index=True)
    t1 = time.perf_counter()
    pos = pd.DataFrame({"token": positives})
    hits = df.merge(pos, on="token").groupby("latent").agg(tp=("act", "size"), pos_act_sum=("act", "sum"))
    table = latents.to_pandas().set_index("latent").join(hits).fillna({"tp": 0, "pos_act_sum": 0.0})
    table["f1"] = 2 * table["tp"] / (table["n_fires"] + len(positives))
    table.sort_values("f1", ascending=False).head(20)
    t2 = time.perf_counter()
    del df
    return t1 - t0, t2 - t1


def _args(store: Path, sae: str, pattern: str, fmt: str) -> list[str]:
    return ["search", pattern, "--sae", sae, "--store", str(store), "--format", fmt]


def _cli(store: Path, sae: str, pattern: str, fmt: str) -> list[str]:
    exe = Path(sys.executable).with_name("tokrex")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "tokrex.cli.app"]
    return [*cmd, *_args(store, sae, pattern, fmt)]


def main(quick: bool = False) -> None:
    from tokrex.corpus import open_corpus
    from tokrex.query import SearchConfig, rank
    from tokrex.query.searching import positives_of
    from tokrex.store import connect, open_firings

    store, sae, pattern = make_store(quick)
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (figures on a shared machine grow with it)")
    corpus = open_corpus(store)
    firings = open_firings(corpus, sae)
    positives = positives_of(pattern, corpus, firings).positives
    n_tok, n_rows = corpus.n_tokens, firings.n_firings
    print(f"store: {n_tok:,} tokens, {firings.n_latents:,} latents, {n_rows:,} firing rows "
          f"({n_rows / n_tok:.1f} per token); pattern {pattern}: {len(positives):,} positives "
          f"({100 * len(positives) / n_tok:.1f}%)")

    cfg = SearchConfig(top=20)
    rank(positives, firings, cfg)  # warm the page cache
    best, med, cpu = _best(lambda: rank(positives, firings, cfg), 5)
    ok = "ok" if best <= RANK_TARGET_S else "OVER TARGET"
    print(f"ranking, numpy engine (token-major CSR, 2 threads): best {best:.3f} s, median {med:.3f} s, "
          f"CPU {cpu:.3f} s (target <= {RANK_TARGET_S} s: {ok})")

    acfg = SearchConfig(top=20, by="auroc")
    best_a, med_a, cpu_a = _best(lambda: rank(positives, firings, acfg), 2)
    print(f"ranking by AUROC (exact, latent-major columns of the latents whose count bounds can reach the top): "
          f"best {best_a:.3f} s, median {med_a:.3f} s, CPU {cpu_a:.3f} s")

    con = connect(corpus, firings)
    dcfg = SearchConfig(top=20, engine="duckdb")
    rank(positives, firings, dcfg, con=con)
    best_d, med_d, cpu_d = _best(lambda: rank(positives, firings, dcfg, con=con), 2 if not quick else 3)
    print(f"ranking, duckdb engine (SQL join over the Parquet firings): best {best_d:.3f} s, median {med_d:.3f} s, "
          f"CPU {cpu_d:.3f} s")

    read_s, join_s = _pandas_rank(firings.parts, positives, firings.latents())
    print(f"pandas baseline: read_parquet {read_s:.2f} s + merge/groupby {join_s:.2f} s = {read_s + join_s:.2f} s "
          f"(ranking alone is {join_s / best:.0f}x slower than the numpy engine)")

    env = {**os.environ, "COLUMNS": "120"}
    for fmt in ("table", "json"):
        cmd = _cli(store, sae, pattern, fmt)
        subprocess.run(cmd, capture_output=True, env=env, check=True)  # warm (index build, SAE id, page cache)
        times = []
        for _ in range(3):
            t, c = time.perf_counter(), _child_cpu()
            subprocess.run(cmd, capture_output=True, env=env, check=True)
            times.append((time.perf_counter() - t, _child_cpu() - c))
        best = min(times)
        ok = "ok" if best[0] <= CLI_TARGET_S else "OVER TARGET"
        print(f"tokrex search --format {fmt} end to end (subprocess, warm): best {best[0]:.2f} s, "
              f"median {statistics.median(w for w, _ in times):.2f} s, CPU {best[1]:.2f} s "
              f"(target <= {CLI_TARGET_S} s: {ok})")
    probe = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tokrex.cli.app", *_args(store, sae, pattern, "json")],
        capture_output=True, text=True, env=env,
    )
    imported = {line.split("|")[-1].strip() for line in probe.stderr.splitlines() if "|" in line}
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"imports on that path: torch {'yes' if 'torch' in imported else 'no'}, "
          f"duckdb {'yes' if 'duckdb' in imported else 'no'}, transformers {'yes' if 'transformers' in imported else 'no'}, "
          f"pandas {'yes' if 'pandas' in imported else 'no'}")
