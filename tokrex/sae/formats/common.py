"""Reading checkpoint files safely, and building a ``Sae`` from tensors, for every format.

Every failure becomes a ``SaeError`` with one sentence: which file, what is wrong, what to do.
Tensors come from safetensors where the format allows; ``.pt`` files are read with
``torch.load(..., weights_only=True)``, so no code stored in a checkpoint ever runs.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from tokrex.errors import SaeError
from tokrex.sae.meta import SaeMeta
from tokrex.sae.model import Sae, SaeArch

_HOOK_RE = re.compile(r"(?:^|\.)(?:blocks|layers|layer|h)[._](\d+)(?:\.|$)")


def _detail(exc: BaseException) -> str:
    """The first sentence of an exception's message, for a one-line error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(". ")[0].rstrip(".")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or a SaeError saying what is wrong with it."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SaeError(f"{path} is missing; the SAE folder is incomplete.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SaeError(f"{path} is not valid JSON ({exc}); restore or re-export the file.") from None
    if not isinstance(obj, dict):
        raise SaeError(f"{path} must hold a JSON object, found {type(obj).__name__}.")
    return obj


def read_safetensors(path: Path) -> dict[str, Tensor]:
    """All tensors of a safetensors file on CPU; a corrupt or truncated file is one clear SaeError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise SaeError(f"{path} is missing; the SAE folder is incomplete.")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise SaeError(f"{path} is corrupt or truncated ({_detail(exc)}); download or export it again.") from None


def read_torch_state(path: Path) -> dict[str, Any]:
    """A ``.pt`` state dict read with ``weights_only=True``: plain tensors and numbers, never code."""
    import pickle

    if not path.is_file():
        raise SaeError(f"{path} is missing; the SAE folder is incomplete.")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower() or "weights_only" in str(exc):
            raise SaeError(
                f"{path} stores Python objects beyond tensors, and tokrex never runs code from a checkpoint; "
                "re-save it as a plain state dict of tensors (torch.save(model.state_dict(), ...))."
            ) from None
        raise SaeError(f"{path} is corrupt or truncated ({_detail(exc)}); download or save it again.") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise SaeError(f"{path} is corrupt or truncated ({_detail(exc)}); download or save it again.") from None
    if not isinstance(obj, Mapping):
        raise SaeError(f"{path} holds a {type(obj).__name__}, not a state dict of tensors.")
    return dict(obj)


def require(state: Mapping[str, Any], keys: list[str], where: Path) -> None:
    """SaeError naming the missing tensors when ``state`` lacks any of ``keys``."""
    missing = [k for k in keys if k not in state]
    if missing:
        found = ", ".join(sorted(state)) or "nothing"
        raise SaeError(f"{where} lacks {', '.join(missing)} (found: {found}); it is not a complete SAE checkpoint.")


def tensor(state: Mapping[str, Any], key: str, shape: tuple[int, ...], where: Path) -> Tensor:
    """``state[key]`` as float32, checked against ``shape``."""
    value = state[key]
    if not isinstance(value, Tensor):
        raise SaeError(f"{where}: {key} is a {type(value).__name__}, expected a tensor of shape {list(shape)}.")
    if tuple(value.shape) != shape:
        raise SaeError(
            f"{where}: {key} has shape {list(value.shape)} but the SAE's sizes imply {list(shape)}; "
            "the weights and the config disagree."
        )
    return value.detach().to(torch.float32)


def scalar(value: Any, name: str, where: Path) -> float:
    """A Python float from a number or a one-element tensor."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise SaeError(f"{where}: {name} should be one number, found shape {list(value.shape)}.")
        value = value.item()
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise SaeError(f"{where}: {name} should be a number, found {value!r}.")
    return float(value)


def positive_int(value: Any, name: str, where: Path) -> int:
    """A positive int from a config value or a one-element tensor."""
    number = scalar(value, name, where)
    if number <= 0 or not float(number).is_integer():
        raise SaeError(f"{where}: {name} must be a positive integer, found {value!r}.")
    return int(number)


def build_sae(
    arch: SaeArch,
    *,
    W_enc: Tensor,
    b_enc: Tensor,
    W_dec: Tensor,
    b_dec: Tensor,
    threshold: Tensor | None,
    meta: SaeMeta,
    where: Path,
) -> Sae:
    """A float32 CPU ``Sae`` holding these weights, with ``meta`` attached; NaN/inf weights are refused."""
    sae = Sae(arch)
    with torch.no_grad():
        for name, value in (("W_enc", W_enc), ("b_enc", b_enc), ("W_dec", W_dec), ("b_dec", b_dec)):
            if not torch.isfinite(value).all():
                raise SaeError(f"{where}: {name} holds NaN or infinite values; the checkpoint is damaged.")
            getattr(sae, name).copy_(value)
        if threshold is not None:
            sae.threshold.copy_(threshold)
    if not math.isfinite(arch.input_scale) or arch.input_scale <= 0:
        raise SaeError(f"{where}: the input scale must be a positive number, found {arch.input_scale}.")
    sae.meta = meta
    return sae


def parse_hook(name: str | None) -> tuple[int | None, str]:
    """(layer, hook) from a hook name such as ``blocks.3.hook_resid_post`` or ``model.layers.3.mlp``.

    ``hook_resid_pre`` of block N is the residual stream after block N-1, so it maps to
    ``(N - 1, "resid_post")`` (block 0's maps to layer -1: the embeddings, ``hidden_states[0]``).
    Hooks tokrex does not read keep their own name (e.g. ``attn.hook_z``).
    """
    if not name:
        return None, "resid_post"
    match = _HOOK_RE.search(name)
    layer = int(match.group(1)) if match else None
    tail = name[match.end():] if match else name
    tail = tail.lstrip(".")
    if tail in ("", "hook_resid_post", "resid_post", "output"):
        return layer, "resid_post"
    if tail in ("hook_resid_pre", "resid_pre"):
        return (layer - 1 if layer is not None else None), "resid_post"
    if tail in ("hook_mlp_out", "mlp", "mlp_out", "feed_forward", "ffn"):
        return layer, "mlp_out"
    if tail in ("hook_attn_out", "attn", "attn_out", "self_attn", "attention", "attn_output"):
        return layer, "attn_out"
    return layer, tail.removeprefix("hook_")
