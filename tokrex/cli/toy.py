"""`tokrex toy`: the feature-absorption toy model; a vanilla and a Matryoshka SAE scored against ground truth.

The options are the fields of ``tokrex.toy.ToyConfig`` (torch-free, so ``tokrex --help`` stays fast),
with the same names and defaults; a test keeps them in sync.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from tokrex import atomic
from tokrex.cli.common import count_text, dump_json, err_console, out_console, write_output
from tokrex.toy.config import ToyConfig

DEFAULTS = ToyConfig()  # the defaults, shown by --help


class ToyFormat(str, Enum):
    table = "table"
    json = "json"


def toy(
    tree: Optional[Path] = typer.Option(None, "--tree", metavar="FILE", show_default=False, help="JSON tree file (format: docs/toy.md); default: the tree shipped with tokrex."),
    seed: int = typer.Option(DEFAULTS.seed, "--seed", metavar="S", help="Seed for the directions, the samples and both SAEs."),
    d_model: int = typer.Option(DEFAULTS.d_model, "--d-model", metavar="D", help="Dimension of the activation space the features live in."),
    samples: str = typer.Option(count_text(DEFAULTS.samples), "--samples", metavar="N", help="Training samples per SAE. Suffixes k, M (e.g. 200k, 2M)."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, "--batch-size", metavar="N", help="Samples per optimizer step."),
    lr: float = typer.Option(DEFAULTS.lr, "--lr", metavar="LR", help="Peak learning rate (warmup 5%, decay over the last 20%)."),
    l0: Optional[float] = typer.Option(None, "--l0", metavar="TARGET", show_default=False, help="Target L0 of both SAEs (default: the tree's expected number of active features)."),
    n_prefixes: int = typer.Option(DEFAULTS.n_prefixes, "--n-prefixes", metavar="N", help="Random Matryoshka prefixes per step (the full width always included)."),
    resort_every: int = typer.Option(DEFAULTS.resort_every, "--resort-every", metavar="STEPS", help="Steps between re-sorting Matryoshka latents by usage (their recent squared contribution)."),
    l1_warmup: float = typer.Option(DEFAULTS.l1_warmup, "--l1-warmup", metavar="FRAC", help="Fraction of steps over which the L1 coefficient ramps up before its controller starts."),
    l1_rate: float = typer.Option(DEFAULTS.l1_rate, "--l1-rate", metavar="X", help="Largest per-step relative change of the L1 coefficient once its controller runs."),
    eval_samples: str = typer.Option(count_text(DEFAULTS.eval_samples), "--eval-samples", metavar="N", help="Fresh samples the matching and the scores are computed on. Suffixes k, M."),
    device: str = typer.Option(DEFAULTS.device, "--device", metavar="D", help="torch device; the toy SAEs are tiny, so the CPU is usually the fastest."),
    out: Path = typer.Option(Path("toy-out"), "--out", "-o", metavar="DIR", help="Directory for toy.json (the JSON report) and the heatmaps vanilla.png, matryoshka.png."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Save the cosine heatmaps (needs matplotlib: pip install 'tokrex\\[toy]')."),
    fmt: ToyFormat = typer.Option(ToyFormat.table, "--format", help="table (per-feature scores for people) or json (the object saved as toy.json; docs/toy.md)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a training progress bar per SAE on stderr."),
) -> None:
    """Train a vanilla and a Matryoshka SAE on the feature-absorption toy model and score them against the ground truth.

    Ground-truth features form a tree (default: three parents with three mutually exclusive children each, plus eight independent features; --tree FILE for your own). Both SAEs have one latent per read-out feature and the same target L0, and are trained by the loop `tokrex train` uses. Each feature is matched to a latent (Hungarian assignment on decoder cosine) and scored: decoder and encoder cosine, and absorption, the fraction of samples where the feature is active but its latent is silent (also among samples where one of its children is active).

    Writes DIR/toy.json and the heatmaps DIR/vanilla.png, DIR/matryoshka.png (--out DIR). --samples and --eval-samples shrink the run for a quick look. See docs/toy.md.
    """
    from tokrex.errors import UsageError
    from tokrex.sae.config import parse_count
    from tokrex.toy import run_toy

    try:
        n_samples, n_eval = parse_count(samples), parse_count(eval_samples)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    cfg = ToyConfig(
        tree=str(tree) if tree is not None else None, seed=seed, d_model=d_model, samples=n_samples,
        batch_size=batch_size, lr=lr, l0=l0, n_prefixes=n_prefixes, resort_every=resort_every, l1_warmup=l1_warmup, l1_rate=l1_rate,
        eval_samples=n_eval, device=device,
    )
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a directory for toy.json and the heatmaps.")
    if plots:
        from tokrex.toy.plot import require_matplotlib

        require_matplotlib()  # before training, not after
    if progress:
        with _Progress() as view:
            result = run_toy(cfg, progress=view.update)
    else:
        result = run_toy(cfg)
    data = result.to_json()
    atomic.write_json(out / "toy.json", data)
    written = [out / "toy.json"]
    if plots:
        from tokrex.toy.plot import save_heatmaps

        written += save_heatmaps(result, out)
    if fmt is ToyFormat.json:
        write_output(dump_json(data), None)
        err_console.print(f"Wrote {', '.join(str(p) for p in written)}.", soft_wrap=True, markup=False)
        return
    print_report(result, written)


class _Progress:
    """One rich progress bar per SAE on stderr, fed by ``run_toy``'s progress callback."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("[bold]{task.description:<10}"), BarColumn(bar_width=24), MofNCompleteColumn(),
            TextColumn("steps"), TimeElapsedColumn(), TextColumn("{task.fields[metrics]}"),
            console=Console(stderr=True, highlight=False), transient=False,
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> "_Progress":
        self.bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.stop()

    def update(self, model: str, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            self.tasks[model] = self.bar.add_task(model, total=event["steps"], completed=event["step"], metrics="")
        elif kind == "step" and model in self.tasks:
            self.bar.update(self.tasks[model], completed=event["step"],
                            metrics=f"L0 {event['l0']:.2f}  FVU {event['fvu']:.3f}")
        elif kind == "done" and model in self.tasks:
            self.bar.update(self.tasks[model], completed=self.bar.tasks[self.tasks[model]].total)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _cos(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def model_summary(model: Any) -> dict[str, Any]:
    """FVU, L0, mean absorption of the features that have children (with and without a child active),
    and the smallest decoder cosine of a matched feature."""
    parents = [r for r in model.features if r["absorption_with_child"] is not None]
    cos = [r["decoder_cos"] for r in model.features if r["decoder_cos"] is not None]
    return {
        "fvu": model.fvu, "l0": model.l0,
        "parent_absorption": _mean([r["absorption"] for r in parents]),
        "parent_absorption_with_child": _mean([r["absorption_with_child"] for r in parents]),
        "min_decoder_cos": min(cos) if cos else None,
    }


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def print_report(result: Any, written: list[Path]) -> None:
    """A table per SAE (a row per ground-truth feature, a section per tree group), then a line per SAE."""
    for name, model in result.models.items():
        out_console.print(feature_table(result.tree, model))
    out_console.print("absorption: share of the samples with the feature active where its latent is silent; "
                      "with child: the same among the samples where one of its children is active.", style="dim",
                      soft_wrap=True)
    for name, model in result.models.items():
        s = model_summary(model)
        out_console.print(
            f"{name}: FVU {s['fvu']:.4f}, L0 {s['l0']:.2f}, mean parent absorption {_pct(s['parent_absorption'])} "
            f"({_pct(s['parent_absorption_with_child'])} with a child active), "
            f"min decoder cos {_cos(s['min_decoder_cos'])}", markup=False, soft_wrap=True)
    out_console.print(f"Wrote {', '.join(str(p) for p in written)} ({result.time_s:.1f} s).", markup=False,
                      soft_wrap=True)


def feature_table(tree: Any, model: Any) -> Any:
    """One SAE's scores as a rich table: feature, parent, matched latent, cosines, absorption."""
    from rich import box
    from rich.table import Table

    from tokrex.toy.plot import tree_groups

    table = Table(box=box.SIMPLE_HEAD, title=f"{model.name} SAE ({len(model.order)} latents)", title_justify="left")
    table.add_column("feature")
    table.add_column("parent")
    for head in ("latent", "dec cos", "enc cos", "absorption", "with child"):
        table.add_column(head, justify="right")
    for group in tree_groups(tree):
        for f in group:
            row, parent = model.features[f], tree.feature_parent(f)
            table.add_row(tree.label(f), "" if parent is None else tree.label(parent),
                          "-" if row["latent"] is None else f"L{row['latent']}", _cos(row["decoder_cos"]),
                          _cos(row["encoder_cos"]), _pct(row["absorption"]), _pct(row["absorption_with_child"]),
                          end_section=f == group[-1])
    return table


def register(app: typer.Typer) -> None:
    """Add this module's commands to the tokrex app."""
    app.command("toy", help=toy.__doc__)(toy)
