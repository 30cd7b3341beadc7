"""``load_sae``: any SAE folder (tokrex, SAELens, sparsify, dictionary_learning) as a tokrex ``Sae``.

The format is detected from the files; the loaders never execute code from a checkpoint.
``sae_id`` names an SAE by its content (weights and architecture), the same on every load and device.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from tokrex.errors import SaeError
from tokrex.sae.formats import dictionary_learning, saelens, sparsify
from tokrex.sae.meta import SaeFormat, SaeMeta
from tokrex.sae.model import Sae

TOKREX_FORMAT = "tokrex-sae"
_LOOKED_FOR = (
    'cfg.json with "format": "tokrex-sae" and sae.safetensors (tokrex), '
    "cfg.json and sae_weights.safetensors (SAELens), "
    "cfg.json and sae.safetensors (EleutherAI sparsify), "
    "ae.pt and config.json (dictionary_learning)"
)
_KNOWN_FILES = ("cfg.json", "config.json", "sae.safetensors", "sae_weights.safetensors", "ae.pt")


def _is_tokrex(folder: Path) -> bool:
    cfg = folder / "cfg.json"
    if not cfg.is_file():
        return False
    try:
        obj = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(obj, dict) and obj.get("format") == TOKREX_FORMAT


def _format_of(folder: Path) -> SaeFormat | None:
    if _is_tokrex(folder):
        return "tokrex"
    if saelens.detect(folder):
        return "saelens"
    if sparsify.detect(folder):
        return "sparsify"
    if dictionary_learning.detect(folder):
        return "dictionary_learning"
    return None


def detect_format(path: str | Path) -> tuple[SaeFormat, Path]:
    """(format, folder) of the SAE at ``path``.

    ``path`` may be the SAE's folder, one of its files (``cfg.json``, ``ae.pt``...), or a folder
    with exactly one SAE folder inside (a sparsify run with one hookpoint, a dictionary_learning
    run with one trainer). Raises SaeError saying what was looked for when nothing matches.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise SaeError(f"SAE path {root} does not exist.")
    if root.is_file():
        if root.name not in _KNOWN_FILES:
            raise SaeError(f"{root} is a file; pass the SAE's folder (looked for {_LOOKED_FOR}).")
        root = root.parent
    fmt = _format_of(root)
    if fmt is not None:
        return fmt, root
    inner = []
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise SaeError(f"Cannot read the SAE folder {root}: {exc}.") from None
    for child in children:
        child_fmt = _format_of(child)
        if child_fmt is not None:
            inner.append((child_fmt, child))
    if len(inner) == 1:
        return inner[0]
    if inner:
        names = ", ".join(p.name for _, p in inner[:8]) + (", ..." if len(inner) > 8 else "")
        raise SaeError(f"{root} holds {len(inner)} SAEs ({names}); pass the folder of the one you want.")
    present = sorted(p.name for p in root.iterdir())[:10]
    found = ", ".join(present) if present else "an empty folder"
    raise SaeError(f"{root} is not an SAE in a known format (found: {found}); looked for {_LOOKED_FOR}.")


def _load_tokrex(folder: Path) -> Sae:
    if not (folder / "sae.safetensors").is_file():
        raise SaeError(f"{folder} has a tokrex cfg.json but no sae.safetensors; the checkpoint is incomplete.")
    from tokrex.sae.checkpoint import load_checkpoint

    sae = load_checkpoint(folder)
    if getattr(sae, "meta", None) is None:
        sae.meta = SaeMeta(format="tokrex")
    return sae


_LOADERS = {
    "tokrex": _load_tokrex,
    "saelens": saelens.load,
    "sparsify": sparsify.load,
    "dictionary_learning": dictionary_learning.load,
}


def load_sae(path: str | Path, device: str | torch.device | None = None) -> Sae:
    """The SAE at ``path`` (any supported format) on ``device`` (default: CUDA when available, else CPU).

    The result computes exactly the encodings of the library that saved it (float32 weights; folds
    such as decoder-norm rescaling are applied to the weights) and carries ``sae.meta`` (SaeMeta).
    """
    fmt, folder = detect_format(path)
    sae = _LOADERS[fmt](folder)
    sae.meta.source = str(folder)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        return sae.to(device).eval()
    except (RuntimeError, AssertionError, ValueError) as exc:
        raise SaeError(f"Cannot put the SAE on device {str(device)!r} ({exc}); pick another --device.") from None


def sae_id(sae: Sae) -> str:
    """16 hex characters naming the SAE by its weights and architecture (not its file or device).

    The threshold counts only for activations that use it (jumprelu, batchtopk); weights are
    hashed as float32, so a bfloat16 copy of the same weights has the same id.
    """
    arch = sae.arch
    h = hashlib.sha256()
    desc = {
        "d_in": arch.d_in,
        "n_latents": arch.n_latents,
        "activation": arch.activation,
        "k": arch.k if arch.activation in ("topk", "batchtopk") else None,
        "groups": list(arch.groups),
        "input_scale": float(arch.input_scale),
        "apply_b_dec_to_input": bool(arch.apply_b_dec_to_input),
    }
    h.update(json.dumps(desc, sort_keys=True).encode())
    names = ["W_enc", "b_enc", "W_dec", "b_dec"]
    if arch.activation in ("jumprelu", "batchtopk"):
        names.append("threshold")
    for name in names:
        t = getattr(sae, name).detach().to("cpu", torch.float32).contiguous()
        h.update(f"{name}{list(t.shape)}".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def _threshold_summary(sae: Sae) -> dict[str, Any] | None:
    if sae.arch.activation not in ("jumprelu", "batchtopk"):
        return None
    t = sae.threshold.detach().to("cpu", torch.float64)
    lo, hi = float(t.min()), float(t.max())
    return {"uniform": lo == hi, "min": lo, "mean": float(t.mean()), "max": hi}


def _training(meta: SaeMeta) -> dict[str, Any] | None:
    for key in ("summary", "training_summary", "training", "metrics"):
        value = meta.extra.get(key)
        if isinstance(value, dict) and value:
            return value
    return None


def sae_info(sae: Sae) -> dict[str, Any]:
    """What ``tokrex sae info`` shows, as a JSON-ready dict."""
    meta = getattr(sae, "meta", None) or SaeMeta()
    arch = sae.arch
    return {
        "format": meta.format,
        "source": meta.source,
        "model": meta.model,
        "layer": meta.layer,
        "hook": meta.hook,
        "ctx": meta.ctx,
        "d_in": arch.d_in,
        "n_latents": arch.n_latents,
        "architecture": arch.activation,
        "k": arch.k if arch.activation in ("topk", "batchtopk") else None,
        "threshold": _threshold_summary(sae),
        "groups": list(arch.groups),
        "n_levels": len(arch.groups),
        "input_scale": float(arch.input_scale),
        "apply_b_dec_to_input": bool(arch.apply_b_dec_to_input),
        "tokenizer_hash": meta.tokenizer_hash,
        "sae_id": sae_id(sae),
        "training": _training(meta),
        "notes": list(meta.extra.get("notes") or []),
    }


def export_sae(sae: Sae, out: str | Path, *, format: str = "saelens", force: bool = False) -> Path:
    """Write ``sae`` to the folder ``out`` in a foreign format (only ``saelens`` for now), atomically.

    ``out`` must not exist or be empty unless ``force``; the folder appears whole or not at all.
    """
    from tokrex.atomic import atomic_path

    if format != "saelens":
        raise SaeError(f"Cannot export to {format!r}: the supported export format is saelens.")
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise SaeError(f"{out} is a file; --out must name a folder.")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise SaeError(f"{out} is not empty; choose a new folder or pass --force to replace it.")
    ident = sae_id(sae)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        saelens.export(sae, tmp, sae_id=ident)
    return out
