"""tokrex's own SAE checkpoint: a directory with ``cfg.json`` and ``sae.safetensors``.

``cfg.json`` describes the SAE completely (format, version, architecture, sizes, Matryoshka
groups, input scale, k, model identity, layer, hook, ctx, tokenizer hash, training summary);
``sae.safetensors`` holds ``W_enc [d_in, n]``, ``b_enc [n]``, ``W_dec [n, d_in]``, ``b_dec [d_in]``
and ``threshold [n]``. A run that can continue also has ``train_state.safetensors`` (optimizer
moments, RNG, trackers) and ``train_state.json`` (step, data position, scalars, config).

The whole directory is written to a temporary name and swapped into place, so a reader
never sees weights from one save with the config of another. Other files in it (the
training metrics log) are carried over.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from tokrex import atomic
from tokrex.errors import SaeError
from tokrex.sae.meta import SaeMeta
from tokrex.sae.model import Sae, SaeArch

FORMAT = "tokrex-sae"
VERSION = 1
CFG = "cfg.json"
WEIGHTS = "sae.safetensors"
STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"
_OWN = {CFG, WEIGHTS, STATE_TENSORS, STATE_JSON}


def checkpoint_config(sae: Sae, meta: SaeMeta, train_summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``cfg.json`` object for ``sae``."""
    arch = sae.arch
    extra = dict(meta.extra)
    thr = None
    if arch.activation in ("batchtopk", "jumprelu"):
        t = sae.threshold.detach().float()
        thr = {"kind": "per_latent", "mean": float(t.mean()) if t.numel() else 0.0, "tensor": "threshold"}
    summary = train_summary if train_summary is not None else extra.get("training")
    return {
        "format": FORMAT,
        "version": VERSION,
        "architecture": arch.activation,
        "d_in": arch.d_in,
        "n_latents": arch.n_latents,
        "k": arch.k,
        "threshold": thr,
        "groups": list(arch.groups),
        "input_scale": float(arch.input_scale),
        "apply_b_dec_to_input": bool(arch.apply_b_dec_to_input),
        "objective": extra.get("objective"),
        "model": {"name": meta.model, **(extra.get("model_identity") or {})},
        "layer": meta.layer,
        "hook": meta.hook,
        "ctx": meta.ctx,
        "tokenizer_hash": meta.tokenizer_hash,
        "training": summary,
    }


def save_checkpoint(sae: Sae, dir: str | os.PathLike, *args: Any, train_summary: dict[str, Any] | None = None,
                    meta: SaeMeta | None = None, train_state: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None) -> Path:
    """Write ``sae`` (with ``sae.meta``, or ``meta``) as a tokrex checkpoint directory, atomically.

    ``train_state`` is ``(tensors, info)`` for a resumable run; without it the directory holds
    the SAE only. ``save_checkpoint(sae, meta, dir)`` is accepted too.
    """
    if isinstance(dir, SaeMeta):
        meta, dir = dir, args[0]
    out = Path(dir).expanduser()
    meta = meta or getattr(sae, "meta", None) or SaeMeta()
    check_target(out)
    from safetensors.torch import save_file

    cfg = checkpoint_config(sae, meta, train_summary)
    tensors = {name: getattr(sae, name).detach().to("cpu", torch.float32).contiguous()
               for name in ("W_enc", "b_enc", "W_dec", "b_dec", "threshold")}
    with atomic.atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT})
        if train_state is not None:
            state_tensors, info = train_state
            save_file({k: v.detach().cpu().contiguous() for k, v in state_tensors.items()}, str(tmp / STATE_TENSORS))
            (tmp / STATE_JSON).write_text(json.dumps(info, indent=1) + "\n")
        (tmp / CFG).write_text(json.dumps(cfg, indent=2) + "\n")
        if out.is_dir():
            for f in out.iterdir():
                if f.name not in _OWN and f.is_file() and not f.name.startswith("."):
                    _link_or_copy(f, tmp / f.name)
    return out


def check_target(out: Path) -> None:
    """Refuse a save target that is a file, or a non-empty directory that is not a tokrex checkpoint."""
    if out.exists() and not out.is_dir():
        raise SaeError(f"{out} is a file; a checkpoint is a directory, so choose another path.")
    if out.is_dir() and any(out.iterdir()) and not (out / CFG).is_file():
        raise SaeError(f"{out} exists and is not a tokrex checkpoint; choose an empty or new directory.")
    if (out / CFG).is_file():
        try:
            fmt = json.loads((out / CFG).read_text()).get("format")
        except (OSError, ValueError, AttributeError):
            fmt = None
        if fmt != FORMAT:
            raise SaeError(f"{out} holds another kind of cfg.json; choose an empty or new directory.")


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def load_checkpoint(dir: str | os.PathLike, device: str | torch.device | None = None) -> Sae:
    """Read a tokrex checkpoint directory into a ``Sae`` (float32) with ``sae.meta`` attached."""
    from tokrex.sae.formats.common import build_sae, read_json, read_safetensors, tensor

    root = Path(dir).expanduser()
    cfg = read_json(root / CFG)
    if cfg.get("format") != FORMAT:
        raise SaeError(f"{root / CFG} is not a tokrex checkpoint config (format {cfg.get('format')!r}).")
    if cfg.get("version") != VERSION:
        raise SaeError(f"{root} is a version-{cfg.get('version')} tokrex checkpoint; this tokrex reads version {VERSION}.")
    try:
        arch = SaeArch(
            d_in=int(cfg["d_in"]), n_latents=int(cfg["n_latents"]), activation=cfg["architecture"], k=cfg.get("k"),
            groups=list(cfg.get("groups") or []), input_scale=float(cfg.get("input_scale", 1.0)),
            apply_b_dec_to_input=bool(cfg.get("apply_b_dec_to_input", True)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SaeError(f"{root / CFG} is not a valid tokrex SAE config ({exc}).") from None
    state = read_safetensors(root / WEIGHTS)
    d, n = arch.d_in, arch.n_latents
    where = root / WEIGHTS
    for name in ("W_enc", "b_enc", "W_dec", "b_dec"):
        if name not in state:
            raise SaeError(f"{where} lacks {name}; it is not a complete tokrex checkpoint.")
    model = cfg.get("model") or {}
    meta = SaeMeta(
        format="tokrex", model=model.get("name"), layer=cfg.get("layer"), hook=cfg.get("hook") or "resid_post",
        ctx=cfg.get("ctx"), tokenizer_hash=cfg.get("tokenizer_hash"), source=str(root),
        extra={"objective": cfg.get("objective"), "model_identity": {k: v for k, v in model.items() if k != "name"},
               "training": cfg.get("training")},
    )
    sae = build_sae(
        arch, W_enc=tensor(state, "W_enc", (d, n), where), b_enc=tensor(state, "b_enc", (n,), where),
        W_dec=tensor(state, "W_dec", (n, d), where), b_dec=tensor(state, "b_dec", (d,), where),
        threshold=tensor(state, "threshold", (n,), where) if "threshold" in state else None, meta=meta, where=where,
    )
    if device is not None:
        sae = sae.to(device)
        sae.meta = meta
    return sae


def load_train_state(dir: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The ``(tensors, info)`` a resumable run saved, or None when the directory has none."""
    from tokrex.sae.formats.common import read_json, read_safetensors

    root = Path(dir).expanduser()
    if not (root / STATE_JSON).is_file():
        return None
    try:
        return read_safetensors(root / STATE_TENSORS), read_json(root / STATE_JSON)
    except SaeError:
        raise SaeError(
            f"The training state in {root} ({STATE_TENSORS}, {STATE_JSON}) is missing or damaged, so the run cannot "
            "resume; train again into a new --out (the SAE in it still loads)."
        ) from None
