"""The on-disk activation cache: shards of rows in corpus order, with a manifest.

``STORE/activations/<key>/manifest.json`` records the model identity, layer, hook,
ctx, dtype, corpus identity, ``d_model`` and the shard plan; ``shard-NNNNNN.safetensors``
hold one tensor ``acts [n_rows, d_model]`` each. Shard boundaries are planned once
(between windows) and stored, so a restarted build continues after the last complete
shard and produces the identical cache. Shards and manifest are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from tokrex import atomic
from tokrex.activations.config import ActivationConfig
from tokrex.activations.model import LoadedModel, check_layer, is_oom, load_model, load_tokenizer, model_identity
from tokrex.activations.model import resolve_model_dir, run_windows
from tokrex.progress import progress_bar
from tokrex.activations.windows import Windows, length_batches, make_windows, plan_shards
from tokrex.errors import ActivationError

FORMAT = "tokrex-activations"
VERSION = 1
SHARD_BYTES = 64 << 20  # small enough that an interruption loses little work


def corpus_identity(corpus) -> dict[str, Any]:
    """Tokenizer hash, counts and a content hash of the token ids and document boundaries."""
    content = getattr(corpus, "content_hash", "")
    if not content:
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(corpus.ids).view(np.uint8))
        h.update(np.ascontiguousarray(corpus.doc_offsets, dtype=np.int64).view(np.uint8))
        content = h.hexdigest()
    return {
        "tokenizer_hash": corpus.tokenizer_hash, "n_tokens": int(corpus.n_tokens),
        "n_docs": int(corpus.n_docs), "content_hash": content,
    }


def check_tokenizer(corpus, tokenizer, model_name: str) -> None:
    """Raise when the model's tokenizer is not the one the corpus store was built with."""
    from tokrex.corpus import tokenizer_hash

    if tokenizer_hash(tokenizer) != corpus.tokenizer_hash:
        raise ActivationError(
            f"The tokenizer of model {model_name!r} differs from the corpus store's tokenizer "
            f"({corpus.manifest.get('tokenizer', {}).get('name', 'unknown')}); build the store with this model's tokenizer."
        )


@dataclass
class Plan:
    """Everything that fixes a cache's layout: its header and its shard boundaries."""

    header: dict[str, Any]
    windows: Windows
    shards: list[tuple[int, int]]
    """(first_window, last_window) per shard."""

    def use_bounds(self, bounds: list[int]) -> None:
        """Adopt the shard boundaries (token starts) an existing cache was planned with."""
        idx = np.searchsorted(self.windows.starts, np.asarray(bounds, dtype=np.int64)).tolist()
        self.shards = list(zip(idx, idx[1:] + [len(self.windows)]))

    def token_range(self, i: int) -> tuple[int, int]:
        a, b = self.shards[i]
        return int(self.windows.starts[a]), int(self.windows.ends[b - 1])


def _slug(name: str) -> str:
    base = Path(name.rstrip("/")).name or name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base)[:40] or "model"


def cache_dir(corpus, header: dict[str, Any]) -> Path:
    keyed = {k: header[k] for k in ("model", "layer", "hook", "ctx", "dtype", "corpus")}
    keyed["model"] = {k: v for k, v in header["model"].items() if k != "name"}
    digest = hashlib.sha256(json.dumps(keyed, sort_keys=True).encode()).hexdigest()[:12]
    name = f"{_slug(header['model']['name'])}-L{header['layer']}-{header['hook']}-ctx{header['ctx']}-{digest}"
    return Path(corpus.path) / "activations" / name


def make_plan(corpus, cfg: ActivationConfig, identity: dict[str, str], d_model: int) -> Plan:
    windows = make_windows(corpus.doc_offsets, cfg.ctx)
    rows = cfg.shard_tokens or max(1024, SHARD_BYTES // (2 * d_model))
    header = {
        "format": FORMAT, "version": VERSION, "model": identity, "layer": cfg.layer, "hook": cfg.hook,
        "ctx": cfg.ctx, "dtype": cfg.dtype, "corpus": corpus_identity(corpus), "d_model": d_model,
    }
    return Plan(header=header, windows=windows, shards=plan_shards(windows, rows))


class ActivationCache:
    """A (possibly partial) cache: the shards listed in its manifest are complete."""

    def __init__(self, path: Path, manifest: dict[str, Any]):
        self.path = Path(path)
        self.manifest = manifest
        self._starts = np.array([s["start"] for s in manifest["shards"]], dtype=np.int64)

    @property
    def d_model(self) -> int:
        return int(self.manifest["d_model"])

    @property
    def n_tokens(self) -> int:
        return int(self.manifest["corpus"]["n_tokens"])

    @property
    def n_rows(self) -> int:
        """Rows written so far: the cache covers corpus tokens ``[0, n_rows)``."""
        return sum(s["n_rows"] for s in self.manifest["shards"])

    @property
    def complete(self) -> bool:
        return self.n_rows == self.n_tokens

    @property
    def dtype(self) -> torch.dtype:
        return torch.float16 if self.manifest["dtype"] == "float16" else torch.bfloat16

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Rows for corpus tokens ``[start, stop)`` (within ``n_rows``), CPU, cache dtype."""
        from safetensors import safe_open

        if not 0 <= start <= stop <= self.n_rows:
            raise ActivationError(f"Rows {start}..{stop} are outside the cached range 0..{self.n_rows}.")
        parts = []
        i = max(0, int(np.searchsorted(self._starts, start, side="right")) - 1)
        while start < stop:
            shard = self.manifest["shards"][i]
            lo, hi = start - shard["start"], min(stop, shard["start"] + shard["n_rows"]) - shard["start"]
            try:
                with safe_open(self.path / shard["file"], framework="pt") as f:
                    parts.append(f.get_slice("acts")[lo:hi])
            except Exception as exc:
                raise ActivationError(f"Activation cache shard {self.path / shard['file']} is unreadable ({exc}); delete {self.path} to rebuild it.") from None
            start += hi - lo
            i += 1
        if not parts:
            return torch.zeros(0, self.d_model, dtype=self.dtype)
        return parts[0] if len(parts) == 1 else torch.cat(parts)


def _check_header(path: Path, manifest: dict[str, Any], header: dict[str, Any]) -> None:
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ActivationError(f"{path} is not a version-{VERSION} tokrex activation cache; delete it to rebuild.")
    for key in ("layer", "hook", "ctx", "dtype", "corpus", "d_model"):
        if manifest.get(key) != header[key]:
            raise ActivationError(
                f"The activation cache at {path} was built for another {'corpus' if key == 'corpus' else key} "
                f"({manifest.get(key)!r}, not {header[key]!r}); delete it to rebuild."
            )
    ours = {k: v for k, v in header["model"].items() if k != "name"}
    theirs = {k: v for k, v in manifest.get("model", {}).items() if k != "name"}
    if ours != theirs:
        raise ActivationError(f"The activation cache at {path} was built for another model ({manifest['model'].get('name')}); delete it to rebuild.")


def open_cache(corpus, cfg: ActivationConfig, *, verify_tokenizer: bool = True) -> ActivationCache | None:
    """The cache for ``cfg`` over ``corpus`` if one has been started (complete or not), else None."""
    plan = _plan_for(corpus, cfg, verify_tokenizer=verify_tokenizer)
    path = cache_dir(corpus, plan.header)
    if not (path / "manifest.json").exists():
        return None
    return _open_existing(path, plan)


def _open_existing(path: Path, plan: Plan) -> ActivationCache:
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        raise ActivationError(f"The activation cache manifest {path / 'manifest.json'} is unreadable; delete {path} to rebuild.") from None
    _check_header(path, manifest, plan.header)
    plan.use_bounds(manifest["shard_bounds"])
    return ActivationCache(path, manifest)


def _plan_for(corpus, cfg: ActivationConfig, *, verify_tokenizer: bool = True) -> Plan:
    from transformers import AutoConfig

    model_dir = resolve_model_dir(cfg.model)
    if verify_tokenizer:
        check_tokenizer(corpus, load_tokenizer(model_dir), cfg.model)
    mcfg = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    d_model = getattr(mcfg, "hidden_size", None) or getattr(mcfg, "n_embd", None) or getattr(mcfg, "d_model")
    return make_plan(corpus, cfg, model_identity(model_dir, cfg.model), int(d_model))


class _Runner:
    """Runs windows through the model in length-sorted batches; halves the batch size on CUDA OOM."""

    def __init__(self, lm: LoadedModel, corpus, cfg: ActivationConfig):
        self.lm, self.ids, self.cfg = lm, corpus.ids, cfg
        self.batch_size = cfg.batch_size
        check_layer(lm, cfg.layer, cfg.hook)
        n_special = len(lm.prefix) + len(lm.suffix)
        if lm.max_positions and cfg.ctx + n_special > lm.max_positions:
            raise ActivationError(
                f"--ctx {cfg.ctx} plus {n_special} special tokens exceeds the model's {lm.max_positions} positions; "
                f"use --ctx {lm.max_positions - n_special} or less."
            )

    def rows(self, windows: Windows, first: int, last: int, advance=lambda n: None) -> torch.Tensor:
        """Activations of windows ``[first, last)`` as rows in corpus order, CPU, cache dtype."""
        starts, lengths = windows.starts[first:last], windows.lengths[first:last]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        out = torch.empty(int(offsets[-1]), self.lm.d_model, dtype=self.cfg.torch_dtype())
        pending = length_batches(lengths, self.batch_size)
        while pending:
            batch = pending.pop(0)
            try:
                acts = run_windows(self.lm, [self.ids[starts[i] : starts[i] + lengths[i]] for i in batch], self.cfg.layer, self.cfg.hook)
            except RuntimeError as exc:
                if not is_oom(exc):
                    raise
                if len(batch) == 1:
                    raise ActivationError(f"The model ran out of memory on a single window of {self.cfg.ctx} tokens; use a smaller --ctx.") from None
                torch.cuda.empty_cache()
                self.batch_size = max(1, len(batch) // 2)
                pending[:0] = [batch[: self.batch_size], batch[self.batch_size :]]
                continue
            for i, a in zip(batch, acts):
                out[offsets[i] : offsets[i + 1]] = a.to("cpu", out.dtype)
            advance(int(lengths[batch].sum()))
        return out


def build_cache(corpus, cfg: ActivationConfig, *, stop_token: int | None = None, model: LoadedModel | None = None,
                progress: bool = True) -> ActivationCache:
    """Build (or continue) the cache until it covers tokens ``[0, stop_token)`` (default: all of them)."""
    plan = _plan_for(corpus, cfg)
    path = cache_dir(corpus, plan.header)
    if (path / "manifest.json").exists():
        cache = _open_existing(path, plan)
    else:
        manifest = {**plan.header, "shard_bounds": [plan.token_range(i)[0] for i in range(len(plan.shards))], "shards": []}
        atomic.write_json(path / "manifest.json", manifest)
        cache = ActivationCache(path, manifest)
    stop = corpus.n_tokens if stop_token is None else min(int(stop_token), corpus.n_tokens)
    todo = [i for i in range(len(cache.manifest["shards"]), len(plan.shards)) if plan.token_range(i)[0] < stop]
    if not todo:
        return cache
    lm = model or load_model(cfg.model, cfg.device)
    runner = _Runner(lm, corpus, cfg)
    end = plan.token_range(todo[-1])[1]
    with progress_bar("Caching activations", end, enabled=progress, done=cache.n_rows) as advance:
        for i in todo:
            rows = runner.rows(plan.windows, *plan.shards[i], advance)
            _write_shard(cache, i, plan.token_range(i)[0], rows)
    return cache


def _write_shard(cache: ActivationCache, i: int, start: int, rows: torch.Tensor) -> None:
    from safetensors.torch import save_file

    name = f"shard-{i:06d}.safetensors"
    with atomic.atomic_path(cache.path / name) as tmp:
        save_file({"acts": rows.contiguous()}, str(tmp))
    manifest = dict(cache.manifest)
    manifest["shards"] = [*manifest["shards"], {"file": name, "start": start, "n_rows": int(rows.shape[0])}]
    atomic.write_json(cache.path / "manifest.json", manifest)
    cache.__init__(cache.path, manifest)


def iter_activations(corpus, cfg: ActivationConfig, start_token: int = 0, *, stop_token: int | None = None,
                     model: LoadedModel | None = None, progress: bool = False,
                     dtype: torch.dtype = torch.float32) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, acts[n_rows, d_model])`` for tokens ``[start_token, stop_token)`` in corpus order.

    Rows come from the cache where it has them and from the model otherwise; either way they
    are rounded to the cache dtype, so results do not depend on whether a cache exists.
    Tensors are on the CPU in ``dtype``.
    """
    plan = _plan_for(corpus, cfg)
    path = cache_dir(corpus, plan.header)
    cache = _open_existing(path, plan) if (path / "manifest.json").exists() else None
    cached = cache.n_rows if cache else 0
    stop = corpus.n_tokens if stop_token is None else min(int(stop_token), corpus.n_tokens)
    runner = None
    with progress_bar("Activations", max(0, stop - start_token), enabled=progress) as advance:
        for i in range(len(plan.shards)):
            lo, hi = plan.token_range(i)
            lo, hi = max(lo, start_token), min(hi, stop)
            if lo >= hi:
                continue
            if hi <= cached:
                rows = cache.read(lo, hi)
                advance(hi - lo)
            else:
                runner = runner or _Runner(model or load_model(cfg.model, cfg.device), corpus, cfg)
                first, last = plan.windows.covering(lo, hi)
                rows = runner.rows(plan.windows, first, last, advance)
                base = int(plan.windows.starts[first])
                rows = rows[lo - base : hi - base]
            yield lo, rows.to(dtype)
