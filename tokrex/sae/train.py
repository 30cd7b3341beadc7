"""Training an SAE on a model layer over a corpus store: the library entry point ``train``.

``train(corpus, cfg, out=...)`` gets activations (cache or stream, see ``tokrex.sae.data``),
initializes or resumes an SAE, runs the optimizer loop (``Trainer``), evaluates on the held-out
slice and saves a checkpoint. A progress callback receives one dict per log step; the CLI draws
them, a notebook may print them. Ctrl-C (or a KeyboardInterrupt raised by the callback) saves a
resumable checkpoint before re-raising.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from tokrex.activations import ActivationConfig
from tokrex.activations.cache import check_tokenizer, corpus_identity
from tokrex.activations.model import load_tokenizer, model_identity, resolve_device, resolve_model_dir
from tokrex.errors import SaeError, UsageError
from tokrex.sae import checkpoint
from tokrex.sae.config import TrainConfig
from tokrex.sae.data import Batches, RowSource, Split, buffer_rows, choose_mode
from tokrex.sae.evaluate import evaluate
from tokrex.sae.init import (init_sae, normalize_decoder, permute_latents, project_decoder_grad, resample_dead,
                             usage_order)
from tokrex.sae.meta import SaeMeta
from tokrex.sae.model import Sae, SaeArch
from tokrex.sae.objectives import encode_train, prefix_fvu, report_prefixes, sample_prefixes, step_loss
from tokrex.sae.schedule import update_l1, wsd_lr

ProgressFn = Callable[[dict[str, Any]], None]
METRICS = "metrics.jsonl"
_PARAMS = ("W_enc", "b_enc", "W_dec", "b_dec")
L1_INIT = 0.5  # initial L1 coefficient times d_in (relu); the controller adapts it to reach --l0
# Fields that may change between a run and its resumption.
_OPERATIONAL = {"device", "log_every", "save_every", "model_batch", "data", "buffer"}


@dataclass
class TrainResult:
    """A trained SAE with its training summary (also written to the checkpoint's cfg.json)."""

    sae: Sae
    summary: dict[str, Any]
    out: Path | None


class Trainer:
    """The optimizer loop over shuffled batches: one step per batch, state saveable at any step."""

    def __init__(self, cfg: TrainConfig, sae: Sae, batches: Batches, *, meta: SaeMeta, out: Path | None,
                 progress: ProgressFn | None, info: dict[str, Any]):
        self.cfg, self.sae, self.batches, self.meta, self.out, self.progress = cfg, sae, batches, meta, out, progress
        self.info = info
        self.device = sae.W_enc.device
        self.mode = cfg.prefix_mode
        self.unit_norm = sae.arch.activation in ("topk", "batchtopk")
        self.report = list(sae.arch.groups)
        self.opt = torch.optim.Adam([getattr(sae, p) for p in _PARAMS], lr=cfg.peak_lr, betas=(0.9, 0.999))
        n = sae.n_latents
        self.since_fired = torch.zeros(n, dtype=torch.int64, device=self.device)
        self.usage = torch.zeros(n, dtype=torch.float32, device=self.device)
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.l1 = torch.tensor(L1_INIT / sae.d_in, device=self.device)  # low: L0 starts high and comes down
        self.l0_ema = torch.zeros((), device=self.device)
        self.step, self.tokens, self.position = 0, 0, (0, 0)
        self.elapsed = 0.0
        self.dead_window = max(1, min(cfg.dead_tokens, cfg.tokens // 5))
        # usage: moving average of each latent's squared contribution over ~max(20, resort_every) steps
        self.usage_decay = 1 - 1 / max(20, cfg.resort_every)

    # -- state ------------------------------------------------------------------------------------

    def state(self, complete: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Everything a resumed run needs; ``complete`` once the final summary is saved with it."""
        tensors = {"since_fired": self.since_fired, "usage": self.usage, "rng": self.gen.get_state(), "l1_coef": self.l1,
                   "l0_ema": self.l0_ema}
        for name in _PARAMS:
            for key, value in self.opt.state.get(getattr(self.sae, name), {}).items():
                tensors[f"adam.{name}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
        info = {**self.info, "step": self.step, "tokens_seen": self.tokens, "round": self.position[0],
                "batch": self.position[1], "elapsed_s": self.elapsed, "complete": complete,
                "config": dataclasses.asdict(self.cfg)}
        return tensors, info

    def restore(self, tensors: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
        dev = self.device
        self.since_fired = tensors["since_fired"].to(dev)
        self.usage = tensors["usage"].to(dev)
        self.gen.set_state(tensors["rng"])
        self.l1, self.l0_ema = tensors["l1_coef"].to(dev), tensors["l0_ema"].to(dev)
        for name in _PARAMS:
            p = getattr(self.sae, name)
            keys = [k.split(".")[-1] for k in tensors if k.startswith(f"adam.{name}.")]
            if keys:
                self.opt.state[p] = {k: tensors[f"adam.{name}.{k}"].to(dev if k != "step" else "cpu") for k in keys}
        self.step, self.tokens, self.elapsed = info["step"], info["tokens_seen"], info["elapsed_s"]
        self.position = (info["round"], info["batch"])

    # -- the loop ---------------------------------------------------------------------------------

    def fit(self) -> None:
        """Train until ``cfg.steps``; on interruption save a resumable checkpoint and re-raise."""
        data = self.batches.iterate(*self.position)
        mark = (time.perf_counter(), self.tokens)
        try:
            with _deferred_interrupt() as interrupted:
                while self.step < self.cfg.steps:
                    r, b, rows = next(data)
                    out, x = self._step(rows)
                    self.position = (r, b + 1)
                    if self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps:
                        mark = self._log(out, x, mark)
                    if self.mode == "random" and self.cfg.resort_every and self.step % self.cfg.resort_every == 0:
                        self._resort()
                    if self.out and self.cfg.save_every and self.step % self.cfg.save_every == 0:
                        self.save()
                    if interrupted["hit"]:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            self.elapsed += time.perf_counter() - mark[0]
            if self.out:
                self.save()
            raise
        self.elapsed += time.perf_counter() - mark[0]
        if self.mode == "random":
            self._resort()

    def _prefixes(self) -> list[int]:
        n = self.sae.n_latents
        if self.mode == "random":
            return sample_prefixes(n, self.cfg.n_prefixes, self.cfg.min_prefix, self.gen)
        return list(self.sae.arch.groups) if self.mode == "groups" else [n]

    def _step(self, rows: torch.Tensor):
        cfg, sae = self.cfg, self.sae
        x = rows.to(self.device, torch.float32, non_blocking=True) * sae.arch.input_scale
        for group in self.opt.param_groups:
            group["lr"] = wsd_lr(self.step, cfg.steps, cfg.peak_lr, cfg.warmup, cfg.decay)
        dead = self.since_fired > self.dead_window if self.unit_norm else None
        out = step_loss(sae, x, self._prefixes(), self.mode, l1_coef=self.l1 * self._l1_ramp(), dead=dead,
                        auxk_coef=cfg.auxk_coef)
        self.opt.zero_grad(set_to_none=True)
        out.loss.backward()
        if self.unit_norm:
            project_decoder_grad(sae)
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_([getattr(sae, p) for p in _PARAMS], cfg.grad_clip)
        self.opt.step()
        if self.unit_norm:
            normalize_decoder(sae)
        self._track(out.z.detach(), len(rows))
        self.step += 1
        self.tokens += len(rows)
        if self._resample_due():
            dead = self.since_fired > self.dead_window
            resample_dead(sae, dead, x, out.recon.detach(), self.opt, self.gen)
            self.since_fired[dead] = 0
        return out, x

    def _l1_ramp(self) -> float:
        """The L1 coefficient's warmup factor: linear from ~0 to 1 over ``l1_warmup`` of the steps."""
        n = int(self.cfg.l1_warmup * self.cfg.steps)
        return min(1.0, (self.step + 1) / n) if n else 1.0

    def _resample_due(self) -> bool:
        """Relu SAEs re-initialize dead latents once per dead window, while the learning rate is not decaying."""
        if not (self.cfg.resample and self.sae.arch.activation == "relu"):
            return False
        every = max(1, self.dead_window // self.cfg.batch_size)
        return self.step % every == 0 and self.step < self.cfg.steps * (1 - self.cfg.decay)

    @torch.no_grad()
    def _track(self, z: torch.Tensor, n: int) -> None:
        fired = z > 0
        counts = fired.sum(0)
        self.since_fired += n
        self.since_fired[counts > 0] = 0
        if self.mode == "random":
            energy = (z * self.sae.W_dec.norm(dim=1)).pow(2).mean(0)
            self.usage.mul_(self.usage_decay).add_(energy, alpha=1 - self.usage_decay)
        if self.sae.arch.activation == "relu" and self.cfg.l0 is not None:
            l0 = fired.sum(1).float().mean()
            self.l0_ema = torch.where(self.l0_ema > 0, 0.9 * self.l0_ema + 0.1 * l0, l0)
            if self._l1_ramp() >= 1.0:  # the controller takes over once the warmup is done
                self.l1 = update_l1(self.l1, self.l0_ema, self.cfg.l0, rate=self.cfg.l1_rate)

    def _resort(self) -> None:
        perm = usage_order(self.usage)
        permute_latents(self.sae, perm, self.opt, trackers=[self.since_fired, self.usage])

    def _log(self, out, x: torch.Tensor, mark: tuple[float, int]) -> tuple[float, int]:
        now = time.perf_counter()
        rate = (self.tokens - mark[1]) / max(now - mark[0], 1e-9)
        self.elapsed += now - mark[0]
        fvus = prefix_fvu(self.sae, x, out.z.detach(), self.report)
        rec = {
            "step": self.step, "steps": self.cfg.steps, "tokens": self.tokens, "tokens_per_s": rate,
            "loss": float(out.loss.detach()), "l0": float((out.z > 0).sum(1).float().mean()), "fvu": fvus[self.report[-1]],
            "fvu_prefix": {str(m): v for m, v in fvus.items()}, "dead_frac": float((self.since_fired > self.dead_window).float().mean()),
            "lr": self.opt.param_groups[0]["lr"],
        }
        if self.sae.arch.activation == "relu":
            rec["l1_coef"] = float(self.l1) * self._l1_ramp()
        if self.out:
            with open(self.out / METRICS, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
        if self.progress:
            self.progress({"event": "step", **rec})
        return now, self.tokens

    @torch.no_grad()
    def calibrate_threshold(self, n_batches: int = 16) -> None:
        """BatchTopK's inference threshold: the mean over recent batches of the smallest activation
        BatchTopK keeps, so that encoding one token at a time fires ~k latents on average."""
        if self.sae.arch.activation != "batchtopk":
            return
        rows = self.batches.round_rows(self.position[0])
        lows = []
        for i in range(0, min(len(rows), n_batches * self.cfg.batch_size) - self.cfg.batch_size + 1, self.cfg.batch_size):
            x = rows[i : i + self.cfg.batch_size].to(self.device, torch.float32) * self.sae.arch.input_scale
            z = encode_train(self.sae, x)[1]
            lows.append(torch.where(z > 0, z, torch.full_like(z, float("inf"))).min())
        self.sae.threshold.fill_(float(torch.stack(lows).mean()))

    def save(self, summary: dict[str, Any] | None = None) -> None:
        self.calibrate_threshold()
        checkpoint.save_checkpoint(self.sae, self.out, meta=self.meta, train_summary=summary,
                                   train_state=self.state(complete=summary is not None))


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[dict[str, bool]]:
    """Turn the first Ctrl-C into a flag checked between steps (a second one interrupts at once)."""
    flag = {"hit": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag["hit"]:
            raise KeyboardInterrupt
        flag["hit"] = True

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def _tf32(device: torch.device) -> Iterator[None]:
    """TensorFloat-32 matmuls on CUDA while training (restored afterwards)."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def activation_config(cfg: TrainConfig) -> ActivationConfig:
    return ActivationConfig(model=cfg.model, layer=cfg.layer, hook=cfg.hook, ctx=cfg.ctx, device=cfg.device,
                            dtype=cfg.cache_dtype, batch_size=cfg.model_batch)


def _d_model(model_dir: Path) -> int:
    from transformers import AutoConfig

    mcfg = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    return int(getattr(mcfg, "hidden_size", None) or getattr(mcfg, "n_embd", None) or getattr(mcfg, "d_model"))


def _check_resume(cfg: TrainConfig, saved: dict[str, Any]) -> None:
    ours = dataclasses.asdict(cfg)
    diff = [k for k, v in saved.items() if k not in _OPERATIONAL and ours.get(k) != v]
    if diff:
        shown = ", ".join(f"{k} {saved[k]!r} (now {ours.get(k)!r})" for k in diff[:4])
        raise UsageError(f"--resume continues the saved run, but its options differ: {shown}; use the original options.")


def _check_resumed_width(cfg: TrainConfig, info: dict[str, Any], d_model: int) -> None:
    """Refuse to continue a run whose SAE reads activations of another width than the model's."""
    saved = info.get("d_model")
    if saved is not None and int(saved) != d_model:
        raise SaeError(
            f"The saved run's SAE reads {saved}-wide activations but model {cfg.model!r} has width {d_model} "
            f"at layer {cfg.layer}; resume with the model the run was started with."
        )


def _check_resumed_sources(cfg: TrainConfig, info: dict[str, Any], run: dict[str, Any]) -> None:
    """Refuse to continue a run whose model weights or corpus changed since it was saved."""
    if info.get("model_identity") not in (None, run["model_identity"]):
        raise UsageError(f"Model {cfg.model!r} has changed (config or weights) since the run was saved; "
                         "resume with the model the run was started with.")
    if info.get("corpus") not in (None, run["corpus"]):
        raise UsageError("--resume continues a run over another corpus store; pass the --store the run was started with.")


def _model_name(model: str) -> str:
    """The model as recorded in the checkpoint: a local directory as an absolute path (usable from any
    working directory), anything else (a local HF cache name) as given."""
    path = Path(model).expanduser()
    return str(path.absolute()) if path.is_dir() else model


def train(corpus, cfg: TrainConfig, *, out: str | Path | None = None, resume: bool = False,
          progress: ProgressFn | None = None, show_progress: bool = True) -> TrainResult:
    """Train an SAE on ``cfg.model``'s layer over ``corpus``; save it to ``out`` when given.

    ``resume`` continues the run saved in ``out`` (weights, optimizer, RNG, data position).
    ``show_progress`` draws the activation-caching bar on stderr.
    """
    out = Path(out).expanduser() if out is not None else None
    state = checkpoint.load_train_state(out) if (resume and out) else None
    if resume and state is None:
        raise UsageError(f"--resume: {out} holds no resumable training run; start without --resume.")
    if state is not None:
        if state[1].get("complete"):
            _check_resume(cfg, state[1]["config"])
            sae = checkpoint.load_checkpoint(out)
            return TrainResult(sae=sae, summary=sae.meta.extra.get("training") or {}, out=out)
    elif out is not None and (out / checkpoint.CFG).exists():
        raise UsageError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out.")
    elif out is not None:
        checkpoint.check_target(out)  # before any work: --out must be new, empty or a tokrex checkpoint
    model_dir = resolve_model_dir(cfg.model)
    check_tokenizer(corpus, load_tokenizer(model_dir), cfg.model)
    device = resolve_device(cfg.device)
    d_model = _d_model(model_dir)
    identity = model_identity(model_dir, cfg.model)
    run = {"model_identity": {k: v for k, v in identity.items() if k != "name"}, "corpus": corpus_identity(corpus)}
    if state is not None:
        _check_resumed_width(cfg, state[1], d_model)
        _check_resume(cfg, state[1]["config"])
        _check_resumed_sources(cfg, state[1], run)
    split = Split.plan(corpus.n_tokens, cfg.tokens, cfg.holdout)
    mode = choose_mode(cfg.data, corpus, split, d_model)
    source = RowSource(corpus, activation_config(cfg), mode, split.hold_stop, progress=show_progress)
    batches = Batches(source, split, cfg.batch_size, buffer_rows(cfg.buffer, d_model, cfg.batch_size), cfg.seed)
    meta = SaeMeta(format="tokrex", model=_model_name(cfg.model), layer=cfg.layer, hook=cfg.hook, ctx=cfg.ctx,
                   tokenizer_hash=corpus.tokenizer_hash,
                   extra={"objective": _objective_name(cfg), "model_identity": run["model_identity"]})
    info = {"version": 1, "data": mode, "split": dataclasses.asdict(split), "d_model": d_model, **run}
    return fit_sae(cfg, batches, d_model=d_model, device=device, meta=meta, info=info, out=out, state=state,
                   progress=progress)


def fit_sae(cfg: TrainConfig, batches: Batches, *, d_model: int, device: torch.device, meta: SaeMeta,
            info: dict[str, Any], out: Path | None = None, state: tuple | None = None,
            progress: ProgressFn | None = None) -> TrainResult:
    """Initialize (or resume from ``state``), train and evaluate an SAE on ``batches`` of ``d_model``-wide rows.

    The loop every SAE tokrex trains goes through, whatever feeds it: model activations
    (``train``) or the synthetic samples of the toy model (``tokrex.toy``)."""
    sae = checkpoint.load_checkpoint(out, device) if state else _fresh_sae(cfg, d_model, batches, device)
    sae.meta = meta
    trainer = Trainer(cfg, sae, batches, meta=meta, out=out, progress=progress, info=info)
    if state:
        trainer.restore(*state)
        _trim_metrics(out / METRICS, trainer.step)
    elif out:
        trainer.save()
    if progress:
        progress({"event": "start", "steps": cfg.steps, "step": trainer.step, "data": info.get("data"),
                  "device": str(device), "n_train": batches.split.n_train,
                  "holdout": batches.split.hold_stop - batches.split.hold_start})
    with _tf32(device):
        trainer.fit()  # saves a resumable checkpoint itself when interrupted
        try:
            trainer.calibrate_threshold()
            summary = _summary(cfg, trainer, batches, info.get("data"), device)
        except KeyboardInterrupt:  # trained but not yet evaluated: keep the weights; --resume evaluates
            if out:
                trainer.save()
            raise
    sae.meta.extra["training"] = summary
    if out:
        trainer.save(summary)
    if progress:
        progress({"event": "done", **summary})
    return TrainResult(sae=sae, summary=summary, out=out)


def _trim_metrics(path: Path, step: int) -> None:
    """Drop metric lines logged after the saved step (a crash can leave some), so a resumed log has no repeats."""
    if not path.exists():
        return
    from tokrex import atomic

    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
    if len(kept) != len(lines):
        atomic.write_text(path, "".join(kept))


def _objective_name(cfg: TrainConfig) -> str:
    return {"random": "matryoshka-random", "groups": "matryoshka-groups", "single": "vanilla"}[cfg.prefix_mode]


def _fresh_sae(cfg: TrainConfig, d_model: int, batches: Batches, device: torch.device) -> Sae:
    rows = batches.round_rows(0)[:65536].float()
    scale = math.sqrt(d_model) / float(rows.norm(dim=1).mean().clamp_min(1e-12))
    groups = report_prefixes(cfg.latents, cfg.groups, cfg.prefix_mode, cfg.min_prefix)
    arch = SaeArch(d_in=d_model, n_latents=cfg.latents, activation=cfg.arch, k=cfg.k, groups=groups, input_scale=scale)
    gen = torch.Generator().manual_seed(cfg.seed)
    return init_sae(arch, rows * scale, gen, device=device)


def _summary(cfg: TrainConfig, trainer: Trainer, batches: Batches, mode: str, device: torch.device) -> dict[str, Any]:
    held = evaluate(trainer.sae, batches.holdout(), list(trainer.sae.arch.groups), batch_size=cfg.batch_size, device=device)
    dead = int((trainer.since_fired > trainer.dead_window).sum())
    return {
        "objective": _objective_name(cfg), "architecture": cfg.arch, "k": cfg.k, "l0_target": cfg.l0,
        "n_latents": cfg.latents, "steps": trainer.step, "tokens": trainer.tokens, "batch_size": cfg.batch_size,
        "lr": cfg.peak_lr, "seed": cfg.seed, "data": mode, "time_s": round(trainer.elapsed, 3),
        "tokens_per_s": trainer.tokens / max(trainer.elapsed, 1e-9), "dead_latents": dead,
        "dead_fraction": dead / cfg.latents, "dead_window_tokens": trainer.dead_window, "holdout": held,
    }
