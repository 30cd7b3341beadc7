"""`tokrex train`: train a (Matryoshka) SAE on one layer of a transformers model over a corpus store."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from tokrex.cli.common import HookChoice, ObjectiveChoice


class ArchChoice(str, Enum):
    relu = "relu"
    topk = "topk"
    batchtopk = "batchtopk"


class DataChoice(str, Enum):
    auto = "auto"
    cache = "cache"
    stream = "stream"


class CacheDtype(str, Enum):
    float16 = "float16"
    bfloat16 = "bfloat16"


def train_command(
    store: Path = typer.Option(..., "--store", "-s", metavar="DIR", help="The corpus store to train on (activations are cached inside it)."),
    model: str = typer.Option(..., "--model", "-m", metavar="M", help="A Hugging Face model directory, or a name in the local HF cache (never downloaded)."),
    layer: int = typer.Option(..., "--layer", "-l", metavar="N", help="0-based block: the SAE reads the residual stream after it, hidden_states[N+1]."),
    out: Path = typer.Option(..., "--out", "-o", metavar="CKPT_DIR", help="Checkpoint directory to write (cfg.json, sae.safetensors, metrics.jsonl)."),
    latents: Optional[int] = typer.Option(None, "--latents", "-n", metavar="N", help="Number of latents (dictionary width; default 4096, or the last --groups end)."),
    hook: HookChoice = typer.Option(HookChoice.resid_post, "--hook", help="Activation of the block: resid_post, mlp_out or attn_out."),
    ctx: int = typer.Option(128, "--ctx", metavar="N", help="Corpus tokens per window; documents are cut into windows of N tokens."),
    objective: ObjectiveChoice = typer.Option(ObjectiveChoice.matryoshka, "--objective", help="matryoshka (nested prefixes: random, or fixed with --groups) or vanilla (one prefix)."),
    groups: Optional[str] = typer.Option(None, "--groups", metavar="G1,G2,...", help="Fixed Matryoshka group ends, e.g. 128,512,2048,8192 (default: random prefixes)."),
    arch: Optional[ArchChoice] = typer.Option(None, "--arch", help="relu (L1 to a target --l0), topk or batchtopk (default: relu with --l0, else batchtopk)."),
    k: Optional[int] = typer.Option(None, "--k", metavar="K", help="Active latents per token for topk/batchtopk (default 32)."),
    l0: Optional[float] = typer.Option(None, "--l0", metavar="TARGET", help="Target mean active latents for relu; the L1 coefficient adapts to reach it."),
    tokens: str = typer.Option("5M", "--tokens", "-t", metavar="N", help="Training activations to consume; suffixes k, M, G (e.g. 200k, 5M)."),
    batch_size: int = typer.Option(4096, "--batch-size", "-b", metavar="N", help="Activations per optimizer step."),
    lr: Optional[float] = typer.Option(None, "--lr", metavar="LR", help="Peak learning rate (default 2e-4/sqrt(latents/16384), 4x that for relu)."),
    seed: int = typer.Option(0, "--seed", metavar="S", help="Seed for initialization, data order and prefix sampling (deterministic on CPU)."),
    device: Optional[str] = typer.Option(None, "--device", metavar="D", help="cpu, cuda or cuda:N (default: CUDA when available)."),
    data: DataChoice = typer.Option(DataChoice.auto, "--data", help="cache (activation cache on disk), stream (model -> shuffle buffer) or auto (by free disk)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Stream activations from the model instead of caching them (same as --data stream)."),
    cache_dtype: CacheDtype = typer.Option(CacheDtype.float16, "--cache-dtype", help="Storage dtype of the activation cache."),
    n_prefixes: int = typer.Option(8, "--n-prefixes", metavar="N", help="Random Matryoshka prefixes per step (the full width always included)."),
    min_prefix: int = typer.Option(16, "--min-prefix", metavar="N", help="Smallest random prefix length."),
    resort_every: int = typer.Option(1000, "--resort-every", metavar="STEPS", help="Steps between re-sorting latents by usage (random prefixes); 0 disables."),
    warmup: float = typer.Option(0.05, "--warmup", metavar="FRAC", help="Fraction of steps of linear learning-rate warmup."),
    decay: float = typer.Option(0.2, "--decay", metavar="FRAC", help="Fraction of final steps of linear learning-rate decay to zero."),
    grad_clip: float = typer.Option(1.0, "--grad-clip", metavar="X", help="Gradient norm clipping (0 disables)."),
    dead_tokens: str = typer.Option("10M", "--dead-tokens", metavar="N", help="A latent silent this many tokens counts as dead (capped at a fifth of the run)."),
    auxk_coef: float = typer.Option(1 / 32, "--auxk-coef", metavar="X", help="Weight of the AuxK loss that revives dead latents (topk/batchtopk)."),
    l1_warmup: float = typer.Option(0.05, "--l1-warmup", metavar="FRAC", help="Fraction of steps over which the L1 coefficient ramps up from zero (relu); its controller starts after."),
    l1_rate: float = typer.Option(0.01, "--l1-rate", metavar="X", help="Largest per-step relative change of the L1 coefficient made by its controller (relu)."),
    resample: bool = typer.Option(True, "--resample/--no-resample", help="Re-initialize dead latents (relu) toward badly reconstructed inputs, once per dead window, before the decay."),
    holdout: str = typer.Option("64k", "--holdout", metavar="N", help="Activations held out for the final evaluation (at most a tenth of the corpus)."),
    buffer: Optional[str] = typer.Option(None, "--buffer", metavar="N", help="Rows in the shuffle buffer (default: about 512 MiB)."),
    model_batch: int = typer.Option(32, "--model-batch", metavar="N", help="Windows per model forward pass (halved automatically on CUDA out-of-memory)."),
    log_every: int = typer.Option(50, "--log-every", metavar="STEPS", help="Steps between metric updates (progress line and metrics.jsonl)."),
    save_every: int = typer.Option(2000, "--save-every", metavar="STEPS", help="Steps between resumable checkpoints (0: only at the end and on Ctrl-C)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the interrupted run saved in --out (same options)."),
) -> None:
    """Train a sparse autoencoder (Matryoshka by default) on a model layer over a corpus store.

    Activations are cached in the store first (or streamed from the model with a shuffle buffer when the
    cache would not fit on disk). Shows live step, tokens/s, loss, L0, FVU per prefix and dead latents;
    logs metrics.jsonl beside the checkpoint; Ctrl-C saves a resumable checkpoint (continue with --resume);
    ends with FVU and L0 per prefix on held-out activations.
    """
    from tokrex.corpus import open_corpus
    from tokrex.errors import UsageError
    from tokrex.sae.config import TrainConfig, parse_count
    from tokrex.sae.train import train

    try:
        cfg = TrainConfig(
            model=model, layer=layer, latents=latents, hook=hook.value, ctx=ctx, objective=objective.value,
            groups=_parse_groups(groups), arch=arch.value if arch else None, k=k, l0=l0, tokens=parse_count(tokens),
            batch_size=batch_size, lr=lr, seed=seed, device=device, data="stream" if no_cache else data.value,
            cache_dtype=cache_dtype.value, n_prefixes=n_prefixes, min_prefix=min_prefix, resort_every=resort_every,
            warmup=warmup, decay=decay, grad_clip=grad_clip, dead_tokens=parse_count(dead_tokens),
            auxk_coef=auxk_coef, l1_warmup=l1_warmup, l1_rate=l1_rate, resample=resample, holdout=parse_count(holdout), buffer=parse_count(buffer) if buffer else None,
            model_batch=model_batch, log_every=log_every, save_every=save_every,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    corpus = open_corpus(store)
    view = _LiveView()
    started = time.perf_counter()
    try:
        with view:
            result = train(corpus, cfg, out=out, resume=resume, progress=view.update)
    except KeyboardInterrupt:
        from tokrex.cli.common import err_console

        from tokrex.sae.checkpoint import load_train_state

        state = load_train_state(out) if view.step is not None else None
        if state is None:  # still caching activations: finished shards are kept
            err_console.print("[yellow]Interrupted.[/] The activation cache keeps its finished shards; "
                              "run the same command again to continue.")
        else:
            err_console.print(f"[yellow]Interrupted.[/] Saved a resumable checkpoint to {out} at step "
                              f"{state[1]['step']:,}; run the same command with --resume to continue.")
        raise typer.Exit(130) from None
    _print_summary(result.summary, out, time.perf_counter() - started)


def _parse_groups(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise ValueError(f"--groups takes comma-separated integers such as 128,512,2048, got {text!r}.") from None


def metrics_line(event: dict[str, Any]) -> str:
    """One log step as text: step, tokens/s, loss, L0, FVU (full and per prefix/group), dead fraction."""
    prefixes = " ".join(f"{m}:{v:.3f}" for m, v in event["fvu_prefix"].items())
    return (f"step {event['step']:,}/{event['steps']:,}  {event['tokens_per_s']:,.0f} tok/s  loss {event['loss']:.4g}  "
            f"L0 {event['l0']:.1f}  FVU {event['fvu']:.3f} (per prefix {prefixes})  dead {event['dead_frac']:.1%}")


class _LiveView:
    """Training progress on stderr, fed by the trainer's progress callback.

    On a terminal: a live bar (steps, time left) with the latest metrics on the line below, wrapped
    to the width so no field is cut off. Elsewhere (a pipe, a log file): one plain line per log step.
    """

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        self.step: int | None = None
        self.progress = None
        self.task = None

    def __enter__(self) -> "_LiveView":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _start_bar(self, event: dict[str, Any]) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
        from rich.text import Text

        class _Bar(Progress):
            metrics = ""

            def get_renderables(self):
                yield self.make_tasks_table(self.tasks)
                if self.metrics:
                    yield Text(self.metrics)

        self.progress = _Bar(
            TextColumn("[bold]train"), BarColumn(bar_width=24), MofNCompleteColumn(), TextColumn("steps"),
            TimeRemainingColumn(), console=self.console, transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=event["steps"], completed=event["step"])

    def update(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "start":
            self.step = event["step"]
            where = f"data: {event['data']}, device: {event['device']}, {event['n_train']:,} training activations"
            if self.console.is_terminal:
                self._start_bar(event)
                self.progress.metrics = where
            else:
                self.console.print(f"train: {event['steps']:,} steps from step {event['step']:,} ({where})", soft_wrap=True)
        elif kind == "step":
            self.step = event["step"]
            line = metrics_line(event)
            if self.progress is not None:
                self.progress.metrics = line
                self.progress.update(self.task, completed=event["step"])
            else:
                self.console.print(line, soft_wrap=True, markup=False)


def _print_summary(summary: dict[str, Any], out: Path, wall: float) -> None:
    from rich.table import Table

    from tokrex.cli.common import err_console, out_console

    held = summary.get("holdout") or {}
    table = Table(title=f"Held-out evaluation ({held.get('n_tokens', 0):,} tokens)")
    table.add_column("prefix/group (latents)", justify="right")
    table.add_column("FVU", justify="right")
    table.add_column("L0", justify="right")
    for level in held.get("prefixes", []):
        table.add_row(f"{level['prefix']:,}", f"{level['fvu']:.4f}", f"{level['l0']:.2f}")
    out_console.print(table)
    k = f" (k {summary['k']})" if summary.get("k") else (f" (L0 target {summary['l0_target']:g})" if summary.get("l0_target") else "")
    out_console.print(f"objective {summary.get('objective')}, {summary.get('architecture')}{k}, "
                      f"{summary.get('n_latents', 0):,} latents", soft_wrap=True)
    out_console.print(
        f"dead latents {summary.get('dead_latents', 0):,} ({summary.get('dead_fraction', 0):.1%}); "
        f"{summary.get('steps', 0):,} steps, {summary.get('tokens', 0):,} tokens in {summary.get('time_s', 0):.1f} s "
        f"({summary.get('tokens_per_s', 0):,.0f} tokens/s); total {wall:.1f} s", soft_wrap=True,
    )
    err_console.print(f"Saved the SAE to {out}.")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the tokrex app."""
    app.command("train", help=train_command.__doc__, no_args_is_help=True)(train_command)
