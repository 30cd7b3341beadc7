"""Shared command-line options of the example scripts: where the store and the SAE are.

Both default to what `tokrex demo` builds: the store at $TOKREX_HOME/demo/store (or
$TOKREX_STORE when set) and the SAE at $TOKREX_HOME/demo/sae, TOKREX_HOME defaulting to
~/.cache/tokrex.
"""

from __future__ import annotations

import argparse
import os


def parser(description: str, *, sae: bool = True) -> argparse.ArgumentParser:
    """An argument parser with --store, --top and (unless ``sae`` is False) --sae; defaults: the demo's cache."""
    from tokrex.demo import default_home

    p = argparse.ArgumentParser(description=description.strip().splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--store", default=os.environ.get("TOKREX_STORE") or str(default_home() / "demo" / "store"),
                   help="corpus store: $TOKREX_STORE, else the demo store")
    if sae:
        p.add_argument("--sae", default=str(default_home() / "demo" / "sae"),
                       help="SAE folder, any supported format; the demo SAE by default")
    p.add_argument("--top", type=int, default=5, help="latents to list")
    return p


def print_latents(table, title: str) -> None:
    """Print a ranked latents table (``tokrex.search`` output) as plain text."""
    from tokrex.query import search_info

    info = search_info(table)
    print(f"{title}: {info['pattern']}")
    print(f"  {info['n_positives']:,} positive tokens of {info['n_tokens']:,}; SAE {info['sae']}")
    if table.num_rows == 0:
        print("  no latent to rank (the pattern has no positives here)")
        return
    print(f"  {'rank':>4} {'latent':>7} {'level':>5} {'F1':>6} {'prec':>6} {'recall':>6}  top tokens")
    for row in table.to_pylist():
        tokens = ", ".join(repr(t["text"]) for t in row.get("top_tokens") or [])
        print(f"  {row['rank']:>4} {'L' + str(row['latent']):>7} {row['level']:>5} {row['f1']:>6.3f} "
              f"{row['precision']:>6.3f} {row['recall']:>6.3f}  {tokens}")
