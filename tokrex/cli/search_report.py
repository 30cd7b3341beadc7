"""The rich report of `tokrex search`: header, ranked latents, example contexts, holes, cover."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Optional

from tokrex.cli.common import out_console, write_output

EXAMPLES_SAMPLE = 200_000
"""Hits and false alarms of a latent firing more often are the strongest among an even sample of its firings."""


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if x >= 0.01 or x == 0 else f"{100 * x:.1f}%"


def _tokens(items: list[dict] | None) -> str:
    from tokrex.corpus.kwic import visible

    return ", ".join(repr(visible(t["text"])).replace("'", '"') for t in items or [])


def header(result: Any, sae_label: str) -> Any:
    from rich.text import Text

    n_tok = result.n_tokens
    share = result.n_positives / n_tok if n_tok else 0.0
    t = Text()
    t.append("pattern   ", style="dim")
    t.append(result.pattern.replace("\n", " ⏎ "), style="bold")
    t.append("\npositives ", style="dim")
    t.append(f"{result.n_positives:,}", style="bold")
    t.append(f" ({_pct(share)} of {n_tok:,} corpus tokens; {result.n_matches:,} matches)")
    t.append("\nsae       ", style="dim")
    t.append(sae_label if sae_label == result.sae else f"{sae_label} (id {result.sae})")
    cfg = result.config
    extra = f", activation > {cfg.threshold:g}" if cfg.threshold else ""
    t.append("\nranked by ", style="dim")
    t.append(f"{cfg.by}{extra}, latents firing on >= {cfg.min_fires:,} tokens")
    return t


def latents_table(result: Any) -> Any:
    """The ranked latents; numeric columns never shrink, the top tokens take what width is left."""
    from rich import box
    from rich.table import Table

    rows = result.latents.to_pylist()
    has_auroc = "auroc" in result.latents.column_names
    headers = ["rank", "latent", "level", "F1", "precision", "recall", "cosine"] + (["AUROC"] if has_auroc else [])
    headers += ["firings", "misses"]
    cells = []
    for r in rows:
        line = [str(r["rank"]), f"L{r['latent']}", str(r["level"]), f"{r['f1']:.3f}", f"{r['precision']:.3f}",
                f"{r['recall']:.3f}", f"{r['cosine']:.3f}"]
        if has_auroc:
            line.append(f"{r['auroc']:.3f}")
        line += [f"{r['n_fires']:,}", _pct(r["miss_share"])]
        cells.append(line)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, name in enumerate(headers):
        width = max([len(name), *(len(c[i]) for c in cells)])
        table.add_column(name, justify="right", no_wrap=True, min_width=width, style="bold" if name == "F1" else None)
    table.add_column("top tokens", overflow="ellipsis", no_wrap=True, max_width=40)
    for r, line in zip(rows, cells):
        table.add_row(*line, _tokens(r.get("top_tokens")))
    return table


def context_line(ctx: Any, width: int) -> Any:
    from rich.text import Text

    side = max((width - 24) // 2, 10)
    left = "".join(ctx.pieces[: ctx.center])
    right = "".join(ctx.pieces[ctx.center + 1 :])
    if len(left) > side:
        left = "…" + left[-(side - 1) :]
    if len(right) > side:
        right = right[: side - 1] + "…"
    t = Text()
    t.append(f"{ctx.doc}:{ctx.pos}".rjust(9) + "  ", style="dim")
    t.append(left)
    t.append(ctx.pieces[ctx.center], style="bold black on yellow")
    t.append(right)
    t.append(f"  act {ctx.act:.2f}" if ctx.act > 0 else "  act 0", style="cyan")
    return t


def examples_block(result: Any, corpus: Any, firings: Any, n_latents: int, context: int, width: int) -> list[Any]:
    import numpy as np
    from rich.text import Text

    from tokrex.query.contexts import Column, examples

    is_pos = np.zeros(result.n_tokens, dtype=bool)
    is_pos[result.positives] = True
    out = []
    labels = (("hits", "hits (pattern and latent)"), ("misses", "misses (pattern, latent silent)"),
              ("false_alarms", "false alarms (latent, no pattern)"))
    for r in result.latents.to_pylist()[:n_latents]:
        col = Column.of(firings, r["latent"]).above(result.config.threshold)
        ex = examples(corpus, col, result.positives, 3, context, is_pos, sample=EXAMPLES_SAMPLE)
        title = Text()
        title.append(f"L{r['latent']}", style="bold")
        title.append(f" (level {r['level']}): F1 {r['f1']:.3f}, precision {r['precision']:.3f}, "
                     f"recall {r['recall']:.3f}; misses {_pct(r['miss_share'])} of positives")
        out.append(title)
        for key, label in labels:
            out.append(Text(f"  {label}", style="dim"))
            if not ex[key]:
                out.append(Text("          none", style="dim"))
            for c in ex[key]:
                out.append(context_line(c, width))
        out.append(Text(""))
    return out


def holes_table(result: Any) -> Any:
    from rich import box
    from rich.table import Table

    rows = [r for r in result.latents.to_pylist() if r.get("holes") is not None]
    if not rows:
        return None
    table = Table(title="Absorption holes: the positives each latent misses, and the latents that fire there",
                  title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("latent", justify="right", no_wrap=True)
    table.add_column("misses", justify="right", no_wrap=True)
    table.add_column("absorbing latents: positives of the hole they fire on (share of the hole)")
    for r in rows:
        missed = "none" if r["fn"] == 0 else f"{r['fn']:,} ({_pct(r['miss_share'])})"
        if r["holes"]:
            absorbers = ", ".join(f"L{h['latent']} (level {h['level']}): {h['count']:,} ({_pct(h['share'])})" for h in r["holes"])
        else:
            absorbers = "-" if r["fn"] == 0 else "no other latent fires there"
        table.add_row(f"L{r['latent']}", missed, absorbers)
    return table


def cover_table(result: Any) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title="Greedy cover: union of latents, step by step (F1)", title_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("step", "add", "level", "tp", "fp", "fn", "precision", "recall", "F1"):
        table.add_column(name, justify="right", no_wrap=True)
    for s in result.cover:
        table.add_row(str(s["step"]), f"+L{s['latent']}", str(s["level"]), f"{s['tp']:,}", f"{s['fp']:,}",
                      f"{s['fn']:,}", f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}")
    return table


def report_console(out: Optional[Path]) -> Any:
    """stdout's console; a wider one when stdout is piped; an uncoloured in-memory one for ``--out``."""
    from rich.console import Console

    if out is not None:
        return Console(file=io.StringIO(), width=max(out_console.width, 120), no_color=True, highlight=False)
    if not out_console.is_terminal:  # piped: nobody's terminal to wrap for, keep every column
        return Console(width=max(out_console.width, 120), highlight=False)
    return out_console


def print_report(result: Any, corpus: Any, firings: Any, sae_label: str, n_examples: int, context: int,
                 out: Optional[Path]) -> None:
    """Print the whole report to stdout (or write it, without colours, to ``out``)."""
    console = report_console(out)
    console.print(header(result, str(sae_label)))
    console.print()
    if result.n_positives == 0:
        console.print(f"No positives: the pattern matches 0 of {result.n_tokens:,} tokens, so there is nothing to rank.",
                      markup=False)
    elif result.latents.num_rows == 0:
        console.print(f"No latent fires on at least {result.config.min_fires:,} tokens; lower --min-fires.", markup=False)
    else:
        console.print(latents_table(result))
        console.print()
        for line in examples_block(result, corpus, firings, n_examples, context, console.width):
            console.print(line, soft_wrap=False, overflow="ellipsis", no_wrap=True)
        holes = holes_table(result)
        if holes is not None:
            console.print(holes)
            console.print()
        if result.cover is not None:
            if result.cover:
                console.print(cover_table(result))
            else:
                console.print("Greedy cover: no latent improves on the empty set.", markup=False)
    if out is not None:
        write_output(console.file.getvalue(), out)
