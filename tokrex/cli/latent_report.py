"""The rich dashboard of `tokrex latent`, drawn from ``tokrex.query.latent.latent_view``'s dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from tokrex.cli.common import write_output

_BAR = 32


def _shade(act: float, top: float) -> str | None:
    """Background style for an activation: stronger orange for a higher share of the maximum."""
    if act <= 0 or top <= 0:
        return None
    x = min(act / top, 1.0)
    r, g, b = 255, int(255 - 140 * x), int(255 - 235 * x)
    return f"black on rgb({r},{g},{b})"


def shaded_context(ctx: dict, top: float) -> Any:
    from rich.text import Text

    t = Text()
    t.append(f"{ctx['doc']}:{ctx['pos']}".rjust(9) + "  ", style="dim")
    for i, (piece, act) in enumerate(zip(ctx["pieces"], ctx["acts"])):
        style = _shade(act, top)
        if i == ctx["center"]:
            style = (style or "") + " bold underline"
        t.append(piece, style=style)
    t.append(f"  act {ctx['act']:.2f}", style="cyan")
    return t


def histogram(view: dict) -> list[Any]:
    from rich.text import Text

    h = view["histogram"]
    if not h["counts"]:
        return [Text("  (never fires)", style="dim")]
    peak = max(h["counts"]) or 1
    lines = []
    for lo, hi, n in zip(h["edges"][:-1], h["edges"][1:], h["counts"]):
        t = Text(f"  {lo:7.2f} – {hi:<7.2f} ", style="dim")
        t.append("█" * max(int(round(_BAR * n / peak)), 1 if n else 0), style="cyan")
        t.append(f" {n:,}")
        lines.append(t)
    return lines


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Any:
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, c in enumerate(columns):
        table.add_column(c, justify="left" if c in ("token",) else "right", no_wrap=True)
    for r in rows:
        table.add_row(*r)
    return Group(Text(title, style="bold"), table)


def _tok(text: str) -> str:
    from tokrex.corpus.kwic import visible

    return repr(visible(text)).replace("'", '"')


def print_dashboard(view: dict, sae_label: str, out: Optional[Path]) -> None:
    """Print the dashboard to stdout (or write it, without colours, to ``out``)."""
    from rich.columns import Columns
    from rich.text import Text

    from tokrex.cli.search_report import report_console

    console = report_console(out)
    head = Text()
    head.append(f"L{view['latent']}", style="bold")
    head.append(f"  level {view['level']} of SAE {sae_label} (id {view['sae']}, {view['n_latents']:,} latents)\n")
    head.append(f"fires on {view['n_fires']:,} of {view['n_tokens']:,} tokens ({100 * view['freq']:.3g}%); ")
    head.append(f"activation mean {view['act_mean']:.3g}, std {view['act_std']:.3g}, max {view['act_max']:.3g}")
    console.print(head)
    console.print()
    console.print(Text("Activation histogram (firing tokens)", style="bold"))
    for line in histogram(view):
        console.print(line)
    top = view["act_max"]
    if view["top_contexts"]:
        console.print()
        console.print(Text("Top-activating contexts", style="bold"))
        for c in view["top_contexts"]:
            console.print(shaded_context(c, top), no_wrap=True, overflow="ellipsis")
    if view["quantiles"]:
        console.print()
        console.print(Text("Samples at activation quantiles", style="bold"))
        for q in view["quantiles"]:
            console.print(Text(f"  q={q['q']:g} (act {q['act']:.2f})", style="dim"))
            for c in q["contexts"]:
                console.print(shaded_context(c, top), no_wrap=True, overflow="ellipsis")
    console.print()
    by_count = _table("Top tokens by count", ["token", "count", "mean act"],
                      [[_tok(t["text"]), f"{t['count']:,}", f"{t['mean_act']:.2f}"] for t in view["top_tokens_by_count"]])
    by_mean = _table("Top tokens by mean act", ["token", "mean act", "count"],
                     [[_tok(t["text"]), f"{t['mean_act']:.2f}", f"{t['count']:,}"] for t in view["top_tokens_by_mean_act"]])
    console.print(Columns([by_count, by_mean], padding=(0, 4)))
    console.print()
    cof = _table("Co-firing latents", ["latent", "level", "together", "of this", "of that", "Jaccard"],
                 [[f"L{r['latent']}", str(r["level"]), f"{r['count']:,}", f"{100 * r['share']:.0f}%",
                   f"{100 * r['other_share']:.0f}%", f"{r['jaccard']:.3f}"] for r in view["cofiring"]])
    blocks = [cof]
    if view["nearest"] is not None:
        blocks.append(_table("Nearest by decoder cosine", ["latent", "level", "cosine"],
                             [[f"L{r['latent']}", str(r["level"]), f"{r['cosine']:.3f}"] for r in view["nearest"]]))
    console.print(Columns(blocks, padding=(0, 4)))
    console.print()
    rel = view["relatives"]
    console.print(Text("Matryoshka relatives", style="bold"))
    parents = ", ".join(f"L{r['latent']} (level {r['level']}, {100 * r['share']:.0f}%)" for r in rel["parents"])
    children = ", ".join(f"L{r['latent']} (level {r['level']}, {100 * r['share']:.0f}%)" for r in rel["children"])
    console.print(f"  earlier levels firing whenever this one fires: {parents or 'none'}", markup=False)
    console.print(f"  later levels firing only inside this one: {children or 'none'}", markup=False)
    if out is not None:
        write_output(console.file.getvalue(), out)
