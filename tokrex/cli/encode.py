"""`tokrex encode`: store an SAE's sparse latent firings over a corpus store as Parquet."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from tokrex.cli.common import HookChoice


class DtypeChoice(str, Enum):
    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class SummaryFormat(str, Enum):
    table = "table"
    json = "json"


def encode_command(
    sae: Path = typer.Option(..., "--sae", metavar="CKPT", help="The SAE: a tokrex checkpoint, SAELens, sparsify or dictionary_learning folder."),
    store: Path = typer.Option(..., "--store", "-s", metavar="DIR", help="The corpus store to encode; firings are written inside it."),
    model: Optional[str] = typer.Option(None, "--model", "-m", metavar="M", help="Model directory or local HF name (default: the model the SAE records)."),
    layer: Optional[int] = typer.Option(None, "--layer", "-l", metavar="N", min=-1, help="0-based block the SAE reads, hidden_states[N+1] (default: the SAE's layer)."),
    hook: Optional[HookChoice] = typer.Option(None, "--hook", help="Activation of the block (default: the SAE's, else resid_post)."),
    ctx: Optional[int] = typer.Option(None, "--ctx", metavar="N", min=1, help="Tokens per window; documents are cut into windows of N tokens (default: the SAE's, else 128)."),
    device: Optional[str] = typer.Option(None, "--device", metavar="D", help="cpu, cuda or cuda:N (default: CUDA when available)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", metavar="N", min=1, help="Tokens per SAE encoding block (default 4096, fewer for very wide SAEs)."),
    dtype: DtypeChoice = typer.Option(DtypeChoice.auto, "--dtype", help="SAE compute dtype: auto is float32 on CPU and bfloat16 on CUDA."),
    part_rows: int = typer.Option(8_000_000, "--part-rows", metavar="N", min=1, help="Most firing rows per Parquet part file."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete this SAE's existing firings (complete or partial) and encode again."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
    fmt: SummaryFormat = typer.Option(SummaryFormat.table, "--format", help="Summary on stdout: table or json."),
) -> None:
    """Run an SAE over a corpus store and write its sparse firings (token, latent, act > 0) as Parquet.

    The model, layer and context length default to what the SAE records; flags override them.
    Parts are written atomically and an interrupted run resumes where it stopped.
    Already encoded firings are reused (pass --overwrite to encode again).
    """
    from tokrex.corpus import open_corpus
    from tokrex.errors import UsageError
    from tokrex.sae.load import load_sae
    from tokrex.store import EncodeConfig, encode
    from tokrex.store.manifest import read_manifest
    from tokrex.store.reader import sae_key
    from tokrex.store.schema import Layout

    try:
        cfg = EncodeConfig(
            model=model, layer=layer, hook=hook.value if hook else None, ctx=ctx, device=device,
            batch_size=batch_size, dtype=dtype.value, part_rows=part_rows, overwrite=overwrite,
        )
    except ValueError as exc:
        raise UsageError(str(exc)[:1].upper() + str(exc)[1:] + ".") from None
    corpus = open_corpus(store)
    the_sae = load_sae(sae, device=device)
    before = read_manifest(Layout(Path(corpus.path), sae_key(the_sae)))
    state = "encoded"
    if before is not None and not overwrite:
        state = "already encoded" if before.get("status") == "complete" else f"resumed at token {before['next_token']:,}"
    t0 = time.perf_counter()
    firings = encode(corpus, the_sae, cfg, progress=progress)
    _summary(firings, state, time.perf_counter() - t0, fmt)


def _summary(firings, state: str, seconds: float, fmt: SummaryFormat) -> None:
    from tokrex.cli.common import dump_json, out_console, write_output

    m = firings.manifest
    lat = firings.latents()
    dead = int((lat.column("n_fires").to_numpy() == 0).sum())
    info = {
        "sae_id": firings.sae_id,
        "state": state,
        "store": str(firings.root),
        "model": m.get("model"),
        "layer": m.get("layer"),
        "hook": m.get("hook"),
        "ctx": m.get("ctx"),
        "dtype": m.get("dtype"),
        "n_tokens": firings.n_tokens,
        "n_latents": firings.n_latents,
        "n_firings": firings.n_firings,
        "firings_per_token": firings.n_firings / max(firings.n_tokens, 1),
        "dead_latents": dead,
        "parts": len(m["parts"]),
        "bytes": m["counts"]["bytes"],
        "bytes_per_firing": m["counts"]["bytes_per_firing"],
        "seconds": round(seconds, 3),
        "firings_dir": str(firings.layout.firings_dir),
    }
    if fmt is SummaryFormat.json:
        write_output(dump_json(info), None)
        return
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False, title=f"SAE {firings.sae_id}: {state}", title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    bpf = info["bytes_per_firing"]
    rows = [
        ("model", f"{info['model']} (layer {info['layer']}, {info['hook']}, ctx {info['ctx']}, {info['dtype']})"),
        ("tokens", f"{info['n_tokens']:,}"),
        ("latents", f"{info['n_latents']:,} ({dead:,} never fire)"),
        ("firings", f"{info['n_firings']:,} ({info['firings_per_token']:.1f} per token)"),
        ("parquet", f"{info['parts']} part{'s' if info['parts'] != 1 else ''}, {info['bytes']:,} bytes" + (f", {bpf:.2f} bytes per firing" if bpf else "")),
        ("time", f"{seconds:.1f} s"),
        ("location", info["firings_dir"]),
    ]
    for key, value in rows:
        table.add_row(key, value)
    out_console.print(table)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the tokrex app."""
    app.command("encode")(encode_command)
