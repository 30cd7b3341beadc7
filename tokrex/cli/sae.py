"""`tokrex sae`: inspect an SAE checkpoint in any supported format, or convert it to SAELens."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

import typer

sae_app = typer.Typer(
    name="sae",
    help="Inspect SAE checkpoints (tokrex, SAELens, EleutherAI sparsify, dictionary_learning) and convert them.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)


class InfoFormat(str, Enum):
    table = "table"
    json = "json"


class ExportFormat(str, Enum):
    saelens = "saelens"


def _fmt_threshold(t: dict[str, Any] | None) -> str:
    if t is None:
        return "-"
    if t["uniform"]:
        return f"{t['min']:.6g} (every latent)"
    return f"per latent: min {t['min']:.6g}, mean {t['mean']:.6g}, max {t['max']:.6g}"


def _fmt_groups(groups: list[int]) -> str:
    if len(groups) <= 1:
        return "1 level (plain SAE)"
    shown = ", ".join(str(g) for g in groups[:12]) + (", ..." if len(groups) > 12 else "")
    return f"{len(groups)} levels, ends {shown}"


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _holdout_rows(held: dict[str, Any]) -> list[tuple[str, str]]:
    """The held-out evaluation of a tokrex training summary: totals, then FVU and L0 per prefix/group."""
    rows = [("training: held-out tokens", f"{held.get('n_tokens', 0):,}"),
            ("training: held-out FVU", _fmt_value(held.get("fvu"))),
            ("training: held-out L0", _fmt_value(held.get("l0")))]
    for level in held.get("prefixes") or []:
        rows.append((f"training: held-out prefix {level['prefix']}", f"FVU {level['fvu']:.4f}, L0 {level['l0']:.2f}"))
    if "silent_latents" in held:
        rows.append(("training: held-out silent latents", str(held["silent_latents"])))
    return rows


def _print_table(info: dict[str, Any]) -> None:
    from rich.table import Table

    from tokrex.cli.common import out_console

    rows = [
        ("format", info["format"]),
        ("source", info["source"]),
        ("model", info["model"] or "unknown"),
        ("layer", "unknown" if info["layer"] is None else info["layer"]),
        ("hook", info["hook"]),
        ("ctx", info["ctx"] or "unknown"),
        ("width", f"d_in {info['d_in']}, {info['n_latents']} latents"),
        ("architecture", info["architecture"]),
        ("k", info["k"] if info["k"] is not None else "-"),
        ("threshold", _fmt_threshold(info["threshold"])),
        ("groups", _fmt_groups(info["groups"])),
        ("input scale", _fmt_value(info["input_scale"])),
        ("b_dec subtracted from input", "yes" if info["apply_b_dec_to_input"] else "no"),
        ("tokenizer hash", info["tokenizer_hash"] or "unknown"),
        ("sae_id", info["sae_id"]),
    ]
    for key, value in (info["training"] or {}).items():
        if key == "holdout" and isinstance(value, dict) and "prefixes" in value:
            rows.extend(_holdout_rows(value))
            continue
        shown = json.dumps(value, default=str) if isinstance(value, (dict, list)) else _fmt_value(value)
        rows.append((f"training: {key}", shown))
    for note in info["notes"]:
        rows.append(("note", note))
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in rows:
        table.add_row(key, str(value))
    out_console.print(table)


@sae_app.command("info")
def info(
    ckpt: Path = typer.Argument(..., help="SAE folder: tokrex checkpoint, SAELens, sparsify or dictionary_learning."),
    format: InfoFormat = typer.Option(InfoFormat.table, "--format", "-f", help="Output format: table or json."),
) -> None:
    """Show an SAE's format, model, layer, hook, width, architecture, k/threshold, groups, input scale,
    training metrics and sae_id."""
    from tokrex.cli.common import dump_json, write_output
    from tokrex.sae.load import load_sae, sae_info

    data = sae_info(load_sae(ckpt, device="cpu"))
    if format is InfoFormat.json:
        write_output(dump_json(data), None)
    else:
        _print_table(data)


@sae_app.command("export")
def export(
    ckpt: Path = typer.Argument(..., help="SAE folder to convert (any format tokrex reads)."),
    format: ExportFormat = typer.Option(ExportFormat.saelens, "--format", "-f", help="Target format: saelens."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write; it must be new or empty."),
    force: bool = typer.Option(False, "--force", help="Replace --out if it already holds files."),
) -> None:
    """Convert an SAE to another library's folder layout (written atomically).

    SAELens: cfg.json (v6 layout) + sae_weights.safetensors; the input scale is folded into the
    weights and BatchTopK becomes JumpReLU with the same threshold, so encodings are unchanged.
    """
    from tokrex.cli.common import err_console
    from tokrex.sae.load import export_sae, load_sae, sae_id

    sae = load_sae(ckpt, device="cpu")
    path = export_sae(sae, out, format=format.value, force=force)
    what = f"{sae.arch.activation}, {sae.n_latents} latents"
    err_console.print(f"Wrote {format.value} SAE {sae_id(sae)} ({what}) to {path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the tokrex app."""
    app.add_typer(sae_app, name="sae")
