"""Loading a transformers model from local files, hooking one block, running windows through it.

``layer N`` with hook ``resid_post`` is ``hidden_states[N + 1]`` of a transformers
forward with ``output_hidden_states=True``: the output of block N, captured by a
forward hook on that block. The forward stops right after the block (a private
exception raised in the hook), except for the last block, whose ``hidden_states``
entry includes the model's final norm in some families (GPT-2, Llama): there the full
forward runs and ``hidden_states[N + 1]`` is read, so the rule holds for every layer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from tokrex.errors import ActivationError, UsageError

# Submodules whose output is the block's MLP / attention contribution, tried in order.
_MLP_PATHS = ("output.dense", "mlp", "feed_forward", "ffn", "fc2")
_ATTN_PATHS = ("attention.output.dense", "attn", "self_attn", "attention", "self_attention")
_PROBE_TEXT = "tokrex probe: Hello world"


class _StopForward(Exception):
    """Raised by the capture hook once the needed block has run."""


def resolve_model_dir(name: str) -> Path:
    """A local directory, or the snapshot of ``name`` in the local HF cache; never downloads."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ActivationError(f"Model directory {path} has no config.json; point --model at a saved transformers model.")
        return path.resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        raise ActivationError(
            f"Model {name!r} is neither a local directory nor in the local Hugging Face cache; "
            "tokrex never downloads models, so save it locally first."
        ) from None


def model_identity(model_dir: Path, name: str) -> dict[str, str]:
    """Name, config hash and a sampled fingerprint of the weight files (cheap, no model load)."""
    cfg = json.loads((model_dir / "config.json").read_text())
    for volatile in ("_name_or_path", "transformers_version", "torch_dtype", "dtype", "_commit_hash"):
        cfg.pop(volatile, None)
    config_hash = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]
    h = hashlib.sha256()
    files = sorted(p for p in model_dir.iterdir() if p.suffix in (".safetensors", ".bin", ".pt", ".pth", ".h5"))
    for p in files:
        size = p.stat().st_size
        h.update(f"{p.name}:{size}".encode())
        with open(p, "rb") as f:
            for i in range(16):
                f.seek(size * i // 16)
                h.update(f.read(1 << 14))
    return {"name": name, "config_hash": config_hash, "weights_fingerprint": h.hexdigest()[:16]}


@dataclass
class LoadedModel:
    """A model ready to produce activations: weights, tokenizer, the hooked block list."""

    model: nn.Module
    tokenizer: Any
    identity: dict[str, str]
    """Name, config hash and weights fingerprint."""
    blocks: nn.ModuleList
    d_model: int
    device: torch.device
    prefix: list[int] = field(default_factory=list)
    """Special token ids the tokenizer puts before a single sequence (BOS, CLS)."""
    suffix: list[int] = field(default_factory=list)
    """Special token ids it puts after one (EOS, SEP)."""
    max_positions: int | None = None
    pad_id: int = 0

    @property
    def n_layers(self) -> int:
        return len(self.blocks)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__


def resolve_device(device: str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"Unknown device {device!r}; use cpu, cuda or cuda:N.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device} was asked for but CUDA is not available; use --device cpu.")
    return dev


def load_tokenizer(model_dir: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except Exception as exc:
        raise ActivationError(f"Could not load the tokenizer of {model_dir} ({_first_line(exc)}); check that the directory holds its tokenizer files.") from None


def load_model(name: str, device: str | None = None) -> LoadedModel:
    """Load model and tokenizer from local files (``local_files_only``), in eval mode."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    model_dir = resolve_model_dir(name)
    dev = resolve_device(device)
    tok = load_tokenizer(model_dir)
    hf_logging.disable_progress_bar()
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = AutoModel.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    except Exception as exc:
        raise ActivationError(f"Could not load the model in {model_dir} ({_first_line(exc)}); check that its weight files are complete.") from None
    finally:
        hf_logging.set_verbosity(level)
    model.eval().requires_grad_(False).to(dev, torch.float32)
    blocks = find_blocks(model)
    prefix, suffix = special_wrap(tok)
    cfg = model.config
    d_model = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", None) or getattr(cfg, "d_model")
    max_pos = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    return LoadedModel(
        model=model, tokenizer=tok, identity=model_identity(model_dir, name), blocks=blocks,
        d_model=int(d_model), device=dev, prefix=prefix, suffix=suffix, max_positions=max_pos, pad_id=int(pad),
    )


def find_blocks(model: nn.Module) -> nn.ModuleList:
    """The list of transformer blocks: the ModuleList whose length is the model's layer count."""
    n = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layer", None)
    lists = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) == n]
    if not lists:
        raise ActivationError(f"Could not find the transformer blocks of {type(model).__name__} (no list of {n} layers).")
    return min(lists, key=lambda item: item[0].count("."))[1]


def special_wrap(tok) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer adds around a single sequence: ``(prefix, suffix)``."""
    plain = tok(_PROBE_TEXT, add_special_tokens=False)["input_ids"]
    full = tok(_PROBE_TEXT, add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            return list(full[:i]), list(full[i + len(plain) :])
    raise ActivationError("The tokenizer's special tokens do not wrap a sequence as prefix/suffix; tokrex cannot window it.")


def _submodule(block: nn.Module, hook: str) -> nn.Module:
    paths = _MLP_PATHS if hook == "mlp_out" else _ATTN_PATHS
    for path in paths:
        mod: Any = block
        for part in path.split("."):
            mod = getattr(mod, part, None)
            if mod is None:
                break
        if isinstance(mod, nn.Module):
            return mod
    children = ", ".join(name for name, _ in block.named_children())
    raise ActivationError(
        f"--hook {hook} is not available for {type(block).__name__} blocks (children: {children}); use --hook resid_post."
    )


def check_layer(lm: LoadedModel, layer: int, hook: str) -> None:
    if not -1 <= layer < lm.n_layers:
        raise ActivationError(f"--layer {layer} is out of range: the model has {lm.n_layers} blocks (0..{lm.n_layers - 1}).")
    if hook != "resid_post":
        _submodule(lm.blocks[layer], hook)


def capture(lm: LoadedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor, layer: int, hook: str) -> torch.Tensor:
    """Activations ``[batch, seq, d_model]`` of ``hook`` at block ``layer`` (hooks removed in ``finally``)."""
    last = layer == lm.n_layers - 1
    if hook == "resid_post" and last:
        out = lm.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        return out.hidden_states[layer + 1]
    got: dict[str, torch.Tensor] = {}
    if layer == -1:
        return _capture_embeddings(lm, input_ids, attention_mask)
    block = lm.blocks[layer]
    target = block if hook == "resid_post" else _submodule(block, hook)

    def grab(_mod, _args, output):
        got["x"] = output[0] if isinstance(output, (tuple, list)) else output

    def stop(_mod, _args, _output):
        raise _StopForward

    handles = [target.register_forward_hook(grab), block.register_forward_hook(stop)]
    try:
        lm.model(input_ids=input_ids, attention_mask=attention_mask)
    except _StopForward:
        pass
    finally:
        for h in handles:
            h.remove()
    if "x" not in got:
        raise ActivationError(f"Block {layer} did not run during the forward pass; this architecture is not supported.")
    return got["x"]


def _capture_embeddings(lm: LoadedModel, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``hidden_states[0]``: the input of block 0."""
    got: dict[str, torch.Tensor] = {}

    def grab(_mod, args, kwargs):
        got["x"] = args[0] if args else kwargs["hidden_states"]
        raise _StopForward

    handle = lm.blocks[0].register_forward_pre_hook(grab, with_kwargs=True)
    try:
        lm.model(input_ids=input_ids, attention_mask=attention_mask)
    except _StopForward:
        pass
    finally:
        handle.remove()
    return got["x"]


def run_windows(lm: LoadedModel, windows: list[np.ndarray], layer: int, hook: str) -> list[torch.Tensor]:
    """One forward over a batch of windows (token id arrays); returns each window's corpus rows ``[len, d]``."""
    pre, suf = lm.prefix, lm.suffix
    seqs = [np.concatenate([pre, w, suf]).astype(np.int64) for w in windows]
    width = max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), lm.pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
    ids_t = torch.from_numpy(ids).to(lm.device)
    mask_t = torch.from_numpy(mask).to(lm.device)
    with torch.inference_mode(), _autocast(lm.device):
        acts = capture(lm, ids_t, mask_t, layer, hook)
    return [acts[i, len(pre) : len(pre) + len(w)] for i, w in enumerate(windows)]


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    import contextlib

    return contextlib.nullcontext()


def is_oom(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()

