"""`tokrex demo`: the whole pipeline on the embedded default model and corpus, cached for the next run."""

from __future__ import annotations

import os
import shlex
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from tokrex.cli.common import ObjectiveChoice, count_text, dump_json, err_console, out_console, write_output
from tokrex.demo.config import DemoConfig

DEFAULTS = DemoConfig()  # the defaults, shown by --help


class DemoFormat(str, Enum):
    table = "table"
    json = "json"


def demo(
    home: Optional[Path] = typer.Option(None, "--home", metavar="DIR", show_default=False, help="Cache root: the store goes to DIR/demo/store, the SAE to DIR/demo/sae (default: $TOKREX_HOME, else ~/.cache/tokrex)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", metavar="DIR", show_default=False, help="A transformers model directory to use instead of the embedded all-MiniLM-L6-v2."),
    docs: Optional[int] = typer.Option(None, "--docs", min=1, metavar="N", show_default=False, help="Use only the first N documentation topics (default: all 79, about 128k tokens)."),
    layer: int = typer.Option(DEFAULTS.layer, "--layer", "-l", min=0, metavar="N", help="0-based block whose residual stream the SAE reads."),
    latents: int = typer.Option(DEFAULTS.latents, "--latents", "-n", min=1, metavar="N", help="SAE width (number of latents)."),
    k: int = typer.Option(DEFAULTS.k, "--k", min=1, metavar="K", help="Active latents per token (BatchTopK)."),
    tokens: str = typer.Option(count_text(DEFAULTS.tokens), "--tokens", "-t", metavar="N", help="Training activations to consume; suffixes k, M (the corpus repeats in epochs)."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, "--batch-size", "-b", min=1, metavar="N", help="Activations per optimizer step."),
    lr: Optional[float] = typer.Option(None, "--lr", metavar="LR", show_default=False, help="Peak learning rate (default: tokrex train's width-scaled default)."),
    objective: ObjectiveChoice = typer.Option(ObjectiveChoice.matryoshka, "--objective", help="matryoshka (random nested prefixes) or vanilla (one prefix)."),
    ctx: int = typer.Option(DEFAULTS.ctx, "--ctx", min=1, metavar="N", help="Corpus tokens per model window."),
    seed: int = typer.Option(DEFAULTS.seed, "--seed", metavar="S", help="Seed for initialization, data order and prefix sampling."),
    device: Optional[str] = typer.Option(None, "--device", metavar="D", show_default=False, help="cpu, cuda or cuda:N (default: CUDA when available)."),
    searches: bool = typer.Option(True, "--searches/--no-searches", help="Run the example searches at the end."),
    top: int = typer.Option(DEFAULTS.top, "--top", min=0, metavar="N", help="Latents listed per example search."),
    examples: int = typer.Option(1, "--examples", min=0, metavar="N", help="Show example contexts under the first N latents of each search."),
    context: int = typer.Option(6, "--context", "-C", min=0, metavar="N", help="Tokens of context on each side of an example."),
    fresh: bool = typer.Option(False, "--fresh", help="Delete the demo cache (store, SAE, firings) first and rebuild everything."),
    fmt: DemoFormat = typer.Option(DemoFormat.table, "--format", help="table (reports for people) or json (one object: locations, stage times, top latents per search)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars on stderr."),
) -> None:
    """Run the whole pipeline on an embedded default, offline: Python's documentation topics, layer 3 of all-MiniLM-L6-v2, a Matryoshka SAE trained here (2,048 latents, k=8, 1M tokens), and three example searches.

    Everything is cached in ~/.cache/tokrex/demo ($TOKREX_HOME/demo, or --home DIR), so a second run takes seconds; a stage is redone only when its settings change. Ends with the commands to run next. Needs the demo extra: pip install 'tokrex\\[demo]'.
    """
    from tokrex.demo import run_demo
    from tokrex.errors import UsageError
    from tokrex.sae.config import parse_count

    try:
        cfg = DemoConfig(
            home=home, model=model, docs=docs, layer=layer, latents=latents, k=k, tokens=parse_count(tokens),
            batch_size=batch_size, lr=lr, objective=objective.value, ctx=ctx, seed=seed, device=device,
            searches=searches, top=top, fresh=fresh, progress=progress,
        )
    except ValueError as exc:
        raise UsageError(str(exc).rstrip(".") + ".") from None

    def log(line: str) -> None:
        from rich.markup import escape

        err_console.print(f"[bold cyan]demo[/] {escape(line)}", highlight=False, soft_wrap=True)

    from tokrex.cli.train import _LiveView

    view = _LiveView() if progress else None
    if view is None:
        result = run_demo(cfg, log=log)
    else:
        with view:
            result = run_demo(cfg, log=log, train_progress=view.update)
    if fmt is DemoFormat.json:
        write_output(dump_json(summary(result)), None)
        return
    print_demo(result, examples, context)


def _path(p: Path) -> str:
    """A path as a shell word, abbreviating the home directory to ~ when that stays unquoted."""
    text = str(p)
    home = os.path.expanduser("~")
    if home not in ("", "/", "~") and text.startswith(home + os.sep):
        rest = text[len(home) + 1 :]
        if shlex.quote(rest) == rest:
            return "~/" + rest
    return shlex.quote(text)


def next_commands(result: Any) -> list[tuple[str, str]]:
    """``(command, what it does)`` pairs printed after the demo, with the demo's real paths."""
    sae, store = _path(result.sae), _path(result.store)
    where = f"--sae {sae} --store {store}"
    out = []
    first = result.searches[0] if result.searches else None
    pattern = first.example.pattern if first else r'"\d+"'
    out.append((f"tokrex search {shlex.quote(pattern)} {where}", "rank every latent against a pattern (try your own)"))
    out.append((f"tokrex search {shlex.quote(pattern)} {where} --holes --cover 5",
                "absorption holes of the top latents, and a greedy cover of the pattern"))
    top = first.top if first else None
    if top is not None:
        out.append((f"tokrex latent {top['latent']} {where}", "one latent's dashboard: contexts, tokens, relatives"))
    last = result.searches[-1].example.pattern if result.searches else r'"_" "_" @<"\w+"> "_" "_"'
    out.append((f"tokrex match {shlex.quote(last)} --store {store}", "where a pattern matches, no SAE needed"))
    query = "SELECT latent, n_fires FROM latents ORDER BY n_fires DESC LIMIT 10"
    out.append((f"tokrex sql {shlex.quote(query)} {where}", "any analysis as DuckDB SQL over the store's views"))
    return out


def summary(result: Any) -> dict:
    """The JSON form of a demo run: locations, stage costs, training summary, top latents per search."""
    searches = []
    for s in result.searches:
        r = s.result
        searches.append({
            "title": s.example.title, "pattern": s.example.pattern, "n_positives": r.n_positives,
            "n_matches": r.n_matches, "latents": r.latents.drop_columns(
                [c for c in ("top_tokens", "holes") if c in r.latents.column_names]).to_pylist(),
        })
    held = (result.training or {}).get("holdout") or {}
    return {
        "store": str(result.store), "sae": str(result.sae), "sae_id": result.sae_id, "n_docs": result.n_docs,
        "n_tokens": result.n_tokens,
        "stages": [{"name": st.name, "skipped": st.skipped, "wall_s": round(st.wall_s, 3), "cpu_s": round(st.cpu_s, 3)}
                   for st in result.stages],
        "wall_s": round(result.wall_s, 3), "cpu_s": round(result.cpu_s, 3),
        "training": {k: result.training.get(k) for k in ("objective", "architecture", "k", "n_latents", "steps", "tokens",
                                                        "time_s", "dead_latents")} | {"holdout": held},
        "searches": searches,
        "next": [cmd for cmd, _ in next_commands(result)],
    }


def print_demo(result: Any, n_examples: int, context: int) -> None:
    """Each example's search report, the stage costs, and the commands to run next."""
    from rich.rule import Rule
    from rich.text import Text

    from tokrex.cli.search_report import print_report

    for i, s in enumerate(result.searches, 1):
        out_console.print(Rule(f"Example {i} of {len(result.searches)}: {s.example.title}", align="left"))
        out_console.print(Text(s.example.note, style="italic"))
        out_console.print()
        print_report(s.result, result.corpus, result.firings, _path(result.sae), n_examples, context, None)
    out_console.print(Rule("Demo", align="left"))
    costs = ", ".join(f"{st.name} {'cached' if st.skipped else f'{st.wall_s:.1f} s'}" for st in result.stages)
    out_console.print(f"{result.n_docs:,} documents, {result.n_tokens:,} tokens; SAE {result.sae_id}.", markup=False)
    out_console.print(f"Stages took {result.wall_s:.1f} s (CPU {result.cpu_s:.1f} s): {costs}.", markup=False)
    out_console.print()
    out_console.print(Text("Next: run these yourself (the store and SAE stay cached)", style="bold"))
    for cmd, what in next_commands(result):
        out_console.print(Text(f"  # {what}", style="dim"))
        out_console.print(f"  {cmd}", markup=False, highlight=False, soft_wrap=True)
    out_console.print(Text("  # your own model, corpus and SAE: tokrex corpus build, tokrex train, tokrex encode (see README.md)",
                           style="dim"))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the tokrex app."""
    app.command("demo", help=demo.__doc__)(demo)
