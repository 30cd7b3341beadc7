"""`tokrex toy` end to end (a subprocess, as a user runs it): wall time and peak memory, and the
figures the docs quote (absorption, smallest decoder cosine) for each seed.

The full run uses the command's defaults (the figure docs/toy.md quotes) over seeds 0-5; ``--quick``
uses 200k samples and one seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(args: list[str], out: Path) -> tuple[float, float, dict]:
    """Wall seconds, peak memory (MB) of this one run, and its JSON report."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "tokrex.cli.app", "toy", "--no-progress", "--out", str(out), *args],
                            stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args)
    wall = time.perf_counter() - t0
    return wall, usage.ru_maxrss / 1024, json.loads((out / "toy.json").read_text())


def _parents(model: dict) -> list[dict]:
    return [f for f in model["features"] if f["absorption_with_child"] is not None]


def main(quick: bool = False) -> None:
    seeds = [0] if quick else list(range(6))
    sizes = ["--samples", "200k", "--eval-samples", "20k"] if quick else []
    with tempfile.TemporaryDirectory(prefix="tokrex-toy-bench-") as tmp:
        for seed in seeds:
            out = Path(tmp) / f"seed{seed}"
            plots = [] if seed == 0 else ["--no-plots"]
            wall, peak, data = _run([*sizes, *plots, "--seed", str(seed)], out)
            line = [f"seed {seed}: {wall:5.1f} s wall, peak {peak:.0f} MB" + (" (with heatmaps)" if not plots else "")]
            for name, model in data["models"].items():
                absorption = [f["absorption"] for f in _parents(model)]
                line.append(f"{name}: FVU {model['fvu']:.4f} L0 {model['l0']:.2f} parent absorption "
                            f"{min(absorption):.1%}-{max(absorption):.1%}, min decoder cos "
                            f"{min(f['decoder_cos'] for f in model['features']):.3f}")
            print("; ".join(line), flush=True)
