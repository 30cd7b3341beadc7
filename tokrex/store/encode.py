"""``tokrex encode``: run an SAE over a corpus store's activations and store its sparse firings.

The model's activations come from ``tokrex.activations.iter_activations`` (per-document
windows, ``hidden_states[layer + 1]``, the activation cache when present). They are cut into
blocks of ``batch_size`` tokens aligned on multiples of ``batch_size`` from token 0, encoded
with the SAE on the GPU when there is one, and the activations > 0 are appended to bounded
Parquet parts. Because blocks and part cuts are aligned, a run resumed from the manifest's
``next_token`` computes exactly the blocks, and writes exactly the parts, of an unbroken run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Literal

import numpy as np

from tokrex.errors import ActivationError, SaeError, StoreError, UsageError
from tokrex.store import manifest as mf
from tokrex.store.reader import Firings, open_firings, sae_key
from tokrex.store.schema import ACT_MAX, ACT_MIN, Layout
from tokrex.store.writer import PartWriter, complete, remove

if TYPE_CHECKING:
    import torch

ComputeDtype = Literal["auto", "float32", "bfloat16", "float16"]
ActivationSource = Callable[[int], Iterable[tuple[int, "torch.Tensor"]]]
# Settings that fix what the firings mean: a stored encoding must agree on them to be reused.
_MEANING = ("model_identity", "layer", "hook", "ctx")


@dataclass
class EncodeConfig:
    """How ``tokrex encode`` runs; None means "what the SAE records" (or the default after it)."""

    model: str | None = None
    """Model directory or local HF cache name; default: the model the SAE records."""
    layer: int | None = None
    """0-based block whose output the SAE reads (``hidden_states[layer + 1]``); default: the SAE's."""
    hook: Literal["resid_post", "mlp_out", "attn_out"] | None = None
    """Which activation of the block; default: the SAE's, else resid_post."""
    ctx: int | None = None
    """Tokens per window; default: the SAE's training context, else 128."""
    device: str | None = None
    """torch device for the model and the SAE; default: CUDA when available, else CPU."""
    batch_size: int | None = None
    """Tokens per SAE encoding block; default: 4096, fewer for very wide SAEs (about 256 MiB of float32
    latent activations per block)."""
    dtype: ComputeDtype = "auto"
    """SAE compute dtype. auto: float32 on CPU (exact for float32 SAEs), bfloat16 on CUDA."""
    part_rows: int = 8_000_000
    """Most firing rows per Parquet part (a part may exceed it only when one block alone does)."""
    overwrite: bool = False
    """Delete existing firings of this SAE (complete or partial) and encode again."""

    def __post_init__(self) -> None:
        if self.layer is not None and self.layer < -1:
            raise ValueError(f"layer must be >= 0 (or -1 for the embeddings), got {self.layer}")
        if self.ctx is not None and self.ctx < 1:
            raise ValueError(f"ctx must be >= 1, got {self.ctx}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.part_rows < 1:
            raise ValueError(f"part_rows must be >= 1, got {self.part_rows}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")


def default_block(n_latents: int) -> int:
    """Tokens per encoding block: 4096, or fewer so a block's dense activations stay near 256 MiB."""
    return int(max(64, min(4096, (1 << 26) // max(n_latents, 1))))


def ensure_firings(corpus: Any, sae: Any, *, progress: bool = True, **encode_overrides: Any) -> Firings:
    """The complete firings of ``sae`` in ``corpus``: opened when present, encoded (or resumed) otherwise.

    ``encode_overrides`` are ``EncodeConfig`` fields (model, layer, ctx, device...); when one of
    model/layer/hook/ctx is given, stored firings are reused only if they were made with it.
    """
    meaning = ("model", "layer", "hook", "ctx")
    if not encode_overrides.get("overwrite") and all(encode_overrides.get(k) is None for k in meaning):
        layout = Layout(Path(corpus.path), sae_key(sae))
        m = mf.read_manifest(layout)
        if m is not None and m.get("status") == "complete":
            return open_firings(corpus, sae)
    return encode(corpus, sae, EncodeConfig(**encode_overrides), progress=progress)


def encode(corpus: Any, sae: Any, cfg: EncodeConfig | None = None, *, progress: bool = True) -> Firings:
    """Encode ``corpus`` with ``sae`` (resuming a partial run) and return the complete ``Firings``.

    Raises UsageError when the model or layer is neither recorded by the SAE nor given,
    SaeError when the SAE does not fit the model or corpus (tokenizer, width), StoreError when
    stored firings of this SAE were made with other settings or from another corpus.
    """
    cfg = cfg or EncodeConfig()
    settings = resolve_settings(sae, cfg)
    model_dir = _check_model(corpus, sae, settings)
    settings["model_identity"] = _model_identity(model_dir, settings["model"])

    from tokrex.activations import ActivationConfig, iter_activations

    acfg = ActivationConfig(
        model=settings["model"], layer=settings["layer"], hook=settings["hook"], ctx=settings["ctx"],
        device=settings["device"],
    )

    def source(start: int) -> Iterator[tuple[int, Any]]:
        # rows arrive in the cache dtype they are rounded to anyway: half the copies, same values
        return iter_activations(corpus, acfg, start_token=start, dtype=acfg.torch_dtype())

    return encode_activations(corpus, sae, source, settings, overwrite=cfg.overwrite, progress=progress)


def resolve_settings(sae: Any, cfg: EncodeConfig) -> dict:
    """Model, layer, hook, ctx, device, dtype and block size: flags first, then what the SAE records."""
    meta = getattr(sae, "meta", None)
    model = cfg.model or getattr(meta, "model", None)
    if not model:
        raise UsageError(
            "The SAE does not record which model it reads; pass it to `tokrex encode --sae CKPT --store DIR "
            "--model M` (a model directory or local HF name)."
        )
    layer = cfg.layer if cfg.layer is not None else getattr(meta, "layer", None)
    if layer is None:
        raise UsageError(
            "The SAE does not record which layer it reads; pass it to `tokrex encode --sae CKPT --store DIR "
            "--layer N` (0-based block index)."
        )
    hook = cfg.hook or getattr(meta, "hook", None) or "resid_post"
    ctx = cfg.ctx or getattr(meta, "ctx", None) or 128
    device = _device(cfg.device)
    dtype = cfg.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    if dtype != "float32" and not device.startswith("cuda"):
        raise UsageError(f"--dtype {dtype} is for GPUs; on the CPU the SAE encodes in float32.")
    block = cfg.batch_size or default_block(int(sae.arch.n_latents))
    return {"model": str(model), "layer": int(layer), "hook": hook, "ctx": int(ctx), "device": device,
            "dtype": dtype, "block_tokens": int(block), "part_rows": int(cfg.part_rows),
            "model_from_sae": not cfg.model}


def _device(device: str | None) -> str:
    from tokrex.activations.model import resolve_device

    return str(resolve_device(device))


def _check_model(corpus: Any, sae: Any, settings: dict) -> Path:
    """Refuse, with one sentence, an SAE whose model or tokenizer does not fit the corpus store."""
    from transformers import AutoConfig

    from tokrex.activations.model import load_tokenizer, resolve_model_dir
    from tokrex.corpus import tokenizer_hash

    meta = getattr(sae, "meta", None)
    recorded = getattr(meta, "tokenizer_hash", None)
    if recorded and recorded != corpus.tokenizer_hash:
        raise SaeError(
            f"The SAE was trained on a model whose tokenizer differs from the corpus store's ({corpus.path}); "
            f"build a corpus store with that model's tokenizer."
        )
    model = settings["model"]
    try:
        model_dir = resolve_model_dir(model)
    except ActivationError as exc:
        if not settings.get("model_from_sae"):
            raise
        raise ActivationError(
            f"The SAE records model {model!r}, which is neither a local directory nor in the local Hugging Face "
            f"cache; pass the model's local directory to `tokrex encode --sae CKPT --store DIR --model DIR`."
        ) from exc
    if tokenizer_hash(load_tokenizer(model_dir)) != corpus.tokenizer_hash:
        raise SaeError(
            f"Model {model!r} uses another tokenizer than the corpus store {corpus.path}; "
            f"encode with the model the store was tokenized for, or build a store with this model's tokenizer."
        )
    try:
        mcfg = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    except Exception as exc:
        raise ActivationError(f"Could not read the config of model {model!r}: {exc}") from None
    n_layers = getattr(mcfg, "num_hidden_layers", None) or getattr(mcfg, "n_layer", None)
    layer = settings["layer"]
    if n_layers is not None and not -1 <= layer < int(n_layers):  # checked before --overwrite deletes anything
        raise ActivationError(f"--layer {layer} is out of range: model {model!r} has {n_layers} blocks (0..{n_layers - 1}).")
    width = getattr(mcfg, "hidden_size", None) or getattr(mcfg, "n_embd", None) or getattr(mcfg, "d_model", None)
    if width is not None and int(width) != int(sae.arch.d_in):
        raise SaeError(
            f"The SAE reads {sae.arch.d_in}-wide activations but model {model!r} has width {width} at layer "
            f"{settings['layer']}; pass the --model the SAE was trained on."
        )
    return model_dir


def _model_identity(model_dir: Path, name: str) -> dict:
    from tokrex.activations.model import model_identity

    ident = model_identity(model_dir, name)
    return {k: v for k, v in ident.items() if k != "name"}


def encode_activations(
    corpus: Any, sae: Any, source: ActivationSource, settings: dict, *, overwrite: bool = False,
    progress: bool = True, build_index: bool = True,
) -> Firings:
    """Encode the activations ``source(start_token)`` yields (``(start, rows)`` in corpus order).

    The engine under ``encode``, usable with precomputed or synthetic activations; ``settings`` is
    what ``resolve_settings`` returns (plus an optional ``model_identity``). With ``build_index``
    the token-major index is built at the end, so the first query needs no build.
    """
    sid = sae_key(sae)
    layout = Layout(Path(corpus.path), sid)
    with _exclusive(layout):
        return _encode_locked(corpus, sae, layout, source, settings, overwrite=overwrite, progress=progress,
                              build_index=build_index)


@contextlib.contextmanager
def _exclusive(layout: Layout) -> Iterator[None]:
    """Hold an advisory lock so two processes never write the same SAE's firings at once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - platforms without flock: no lock
        yield
        return
    path = layout.root / "saes" / f".{layout.sae_id}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StoreError(
                f"Another process is encoding SAE {layout.sae_id} into {layout.root}; wait for it to finish, "
                f"then run again."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _encode_locked(corpus: Any, sae: Any, layout: Layout, source: ActivationSource, settings: dict, *,
                   overwrite: bool, progress: bool, build_index: bool) -> Firings:
    sid = layout.sae_id
    corpus_ident = mf.corpus_identity(corpus)
    manifest = _existing(layout, corpus_ident, settings, overwrite)
    if manifest is not None and manifest["status"] == "complete":
        mf.check_parts(manifest, layout)
        return Firings(layout, manifest)
    if manifest is None:
        manifest = mf.new_manifest(mf.sae_identity(sae, sid), corpus_ident, settings)
        manifest["model_identity"] = settings.get("model_identity")
        mf.write_manifest(layout, manifest)
    else:
        settings = {**settings, **{k: manifest[k] for k in ("dtype", "block_tokens", "part_rows")}}
    n_tokens = int(corpus.n_tokens)
    start = int(manifest["next_token"])
    writer = PartWriter(layout, manifest, part_rows=int(manifest["part_rows"]))
    encoder = _BlockEncoder(sae, settings["device"], settings["dtype"])
    from tokrex.progress import progress_bar

    try:
        with progress_bar(f"Encoding SAE {sid}", n_tokens, enabled=progress, done=start) as advance:
            for pos, x in _aligned_blocks(source(start) if start < n_tokens else (), start, settings["block_tokens"]):
                if pos + len(x) > n_tokens:
                    raise ActivationError(f"The activations run past the corpus end ({n_tokens} tokens).")
                writer.add_block(pos + len(x), *encoder(x, pos))
                advance(len(x))
        writer.finish(n_tokens)
    finally:
        writer.close()
    complete(layout, manifest, writer.stats)
    firings = Firings(layout, manifest)
    if build_index:
        firings.token_index(progress=progress)
    return firings


def _existing(layout: Layout, corpus_ident: dict, settings: dict, overwrite: bool) -> dict | None:
    """The manifest to continue from (None to start afresh); refuses one made with other settings."""
    if overwrite:
        remove(layout)
        return None
    m = mf.read_manifest(layout)
    if m is None:
        return None
    mf.check_identity(m, layout, corpus_ident)
    done = m.get("status") == "complete"
    for key in _MEANING:
        have, want = m.get(key), settings.get(key)
        if have is not None and want is not None and have != want:
            what = "model" if key == "model_identity" else key
            shown = m.get("model") if key == "model_identity" else have
            raise StoreError(
                f"The firings of SAE {layout.sae_id} in {layout.root} were {'encoded' if done else 'started'} with "
                f"{what} {shown!r}; pass the same settings to {'use' if done else 'resume'} them, or --overwrite "
                f"to encode again."
            )
    return m


def _aligned_blocks(chunks: Iterable[tuple[int, Any]], start: int, block: int) -> Iterator[tuple[int, Any]]:
    """Re-cut ``(start, rows)`` chunks into blocks ``[k*block, (k+1)*block)`` (the last may be shorter)."""
    import torch

    pos = start
    left: Any = None
    for s, rows in chunks:
        expect = pos + (0 if left is None else len(left))
        if int(s) != expect:
            raise ActivationError(f"Activations arrived out of order (rows for token {s}, expected {expect}).")
        i = 0
        if left is not None:
            need = block - len(left)
            take = rows[:need]
            left = torch.cat([left, take])
            i = len(take)
            if len(left) < block:
                continue
            yield pos, left
            pos, left = pos + block, None
        while len(rows) - i >= block:
            yield pos, rows[i : i + block]
            pos, i = pos + block, i + block
        if i < len(rows):
            left = rows[i:]
    if left is not None and len(left):
        yield pos, left


class _BlockEncoder:
    """Dense SAE encoding of one block, then its nonzero entries as numpy (token, latent, act)."""

    def __init__(self, sae: Any, device: str, dtype: str):
        import copy

        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.dtype = getattr(torch, dtype)
        p = sae.W_enc
        self.sae = sae if (p.device == self.device and p.dtype == self.dtype) else copy.deepcopy(sae).to(self.device, self.dtype)
        self.sae.eval()

    def __call__(self, x: Any, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        torch = self.torch
        if x.shape[-1] != self.sae.arch.d_in:
            raise SaeError(f"The SAE reads {self.sae.arch.d_in}-wide activations but the model's are {x.shape[-1]} wide.")
        with torch.inference_mode():
            z = self.sae.encode(x.to(self.device, self.dtype, non_blocking=True))
            rows, latent = torch.nonzero(z > 0, as_tuple=True)
            act = z[rows, latent].float().clamp_(ACT_MIN, ACT_MAX).half()
            out = torch.stack([rows, latent]).int().cpu().numpy()
            act = act.cpu().numpy()
        return out[0].astype(np.int64) + start, out[1], act
