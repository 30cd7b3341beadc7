"""The feature-absorption experiment: train a vanilla and a Matryoshka SAE on the toy model, compare.

``run_toy(ToyConfig()) -> ToyResult``:

1. ground-truth directions: random orthonormal unit vectors in ``d_model`` dimensions (random unit
   vectors when there are more features than dimensions); a sample is the sum of the directions of
   its active features times their magnitudes;
2. both SAEs are trained by ``tokrex.sae.train.fit_sae``, the loop ``tokrex train`` runs, with the
   same width (the number of read-out features), the same ReLU + adaptive-L1 architecture and the
   same target L0 (the tree's expected L0); only the objective differs;
3. each ground-truth feature is matched to one latent (Hungarian assignment on decoder cosine) and
   scored on fresh samples: decoder and encoder cosine, and the absorption rate, the fraction of
   samples where the feature is active but its latent is silent (activation exactly 0), also among
   samples where one of its child features is active.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch

from tokrex.errors import UsageError
from tokrex.toy.config import ToyConfig
from tokrex.toy.tree import Tree, load_tree

MODELS = ("vanilla", "matryoshka")


@dataclass
class ToyModelResult:
    """One trained SAE scored against the ground truth."""

    name: str
    sae: Any
    fvu: float
    l0: float
    features: list[dict[str, Any]]
    decoder_cos: torch.Tensor
    """[n_latents, n_features] cosine between decoder rows and ground-truth directions."""
    encoder_cos: torch.Tensor
    order: list[int]
    """Latents in display order: the latent matched to feature 0, 1, ..., then the unmatched ones."""
    train: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToyResult:
    tree: Tree
    config: ToyConfig
    directions: torch.Tensor
    models: dict[str, ToyModelResult]
    time_s: float

    def to_json(self) -> dict[str, Any]:
        """The documented JSON object (docs/toy.md)."""
        return {
            "tree": self.tree.source,
            "seed": self.config.seed,
            "models": {name: {"fvu": m.fvu, "l0": m.l0, "features": m.features} for name, m in self.models.items()},
        }


class ToySource:
    """Rows ``[lo, hi)`` of an endless synthetic dataset, each range drawn from its own seed (reproducible)."""

    mode = "stream"

    def __init__(self, tree: Tree, directions: torch.Tensor, seed: int):
        self.tree, self.directions, self.seed = tree, directions, seed

    def read(self, lo: int, hi: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed((self.seed * 1_000_003 + lo) % (2**63))
        return self.tree.sample(hi - lo, gen) @ self.directions


def make_directions(n_features: int, d_model: int, gen: torch.Generator) -> torch.Tensor:
    """``[n_features, d_model]`` unit vectors: orthonormal when they fit, else independent random."""
    g = torch.randn(d_model, max(n_features, 1), generator=gen, dtype=torch.float64)
    if n_features <= d_model:
        q, r = torch.linalg.qr(g)
        q = q * torch.sign(torch.diagonal(r))  # a uniformly random orthonormal frame
        return q.T[:n_features].float().contiguous()
    d = g.T
    return (d / d.norm(dim=1, keepdim=True)).float()


def train_config(cfg: ToyConfig, objective: str, n_features: int, l0: float):
    """The ``tokrex train`` configuration each SAE of the toy is trained with."""
    from tokrex.sae.config import TrainConfig

    try:
        return TrainConfig(
            model="toy", layer=0, latents=n_features, objective=objective, arch="relu", l0=l0, tokens=cfg.samples,
            batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, device=cfg.device, n_prefixes=cfg.n_prefixes,
            min_prefix=1, resort_every=cfg.resort_every, holdout=min(cfg.eval_samples, 65_536),
            buffer=max(cfg.batch_size, 65_536), log_every=max(1, cfg.samples // cfg.batch_size // 100), save_every=0,
            l1_warmup=cfg.l1_warmup, l1_rate=cfg.l1_rate,
        )
    except ValueError as exc:  # a setting the trainer refuses is a usage error, as in `tokrex train`
        raise UsageError(str(exc)) from None


def run_toy(cfg: ToyConfig, *, models: tuple[str, ...] = MODELS,
            progress: Callable[[str, dict[str, Any]], None] | None = None) -> ToyResult:
    """Train and score the SAEs named in ``models`` on the toy model of ``cfg``."""
    from tokrex.activations.model import resolve_device

    start = time.perf_counter()
    tree = load_tree(cfg.tree)
    device = resolve_device(cfg.device)
    with _threads(1 if device.type == "cpu" else None):
        return _run(cfg, tree, device, models, progress, start)


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """One CPU thread while training the tiny toy SAEs: threads only contend (10x slower on a busy box)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run(cfg: ToyConfig, tree: Tree, device, models, progress, start: float) -> ToyResult:
    from tokrex.sae.data import Batches, Split
    from tokrex.sae.meta import SaeMeta
    from tokrex.sae.train import fit_sae

    directions = make_directions(tree.n_features, cfg.d_model, torch.Generator().manual_seed(cfg.seed))
    l0 = cfg.l0 if cfg.l0 is not None else tree.expected_l0()
    if not l0 < tree.n_features:
        raise UsageError(f"--l0 must be below the number of read-out features ({tree.n_features}), got {l0:g}.")
    source = ToySource(tree, directions, cfg.seed)
    eval_gen = torch.Generator().manual_seed(cfg.seed + 7_777_777)
    mags = tree.sample(cfg.eval_samples, eval_gen)
    x_eval = mags @ directions
    results = {}
    for name in models:
        tcfg = train_config(cfg, name, tree.n_features, l0)
        split = Split.plan(tcfg.tokens + tcfg.holdout, tcfg.tokens, tcfg.holdout)
        batches = Batches(source, split, tcfg.batch_size, tcfg.buffer, tcfg.seed)
        meta = SaeMeta(format="tokrex", model="toy", layer=0, hook="resid_post", ctx=1, tokenizer_hash=None,
                       extra={"objective": name, "toy_tree": tree.name})
        hook = (lambda rec, n=name: progress(n, rec)) if progress else None
        trained = fit_sae(tcfg, batches, d_model=cfg.d_model, device=device, meta=meta, info={"data": "toy"},
                          progress=hook)
        results[name] = score(name, trained.sae.cpu(), tree, directions, mags, x_eval, trained.summary)
    return ToyResult(tree=tree, config=cfg, directions=directions, models=results, time_s=time.perf_counter() - start)


@torch.no_grad()
def score(name: str, sae, tree: Tree, directions: torch.Tensor, mags: torch.Tensor, x: torch.Tensor,
          summary: dict[str, Any]) -> ToyModelResult:
    """Match latents to features and measure cosines, absorption, FVU and L0 on ``x`` (magnitudes ``mags``)."""
    from scipy.optimize import linear_sum_assignment

    unit = directions / directions.norm(dim=1, keepdim=True)
    dec = sae.W_dec / sae.W_dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
    enc = sae.W_enc.T / sae.W_enc.T.norm(dim=1, keepdim=True).clamp_min(1e-12)
    dec_cos, enc_cos = dec @ unit.T, enc @ unit.T  # [n_latents, n_features]
    rows, cols = linear_sum_assignment(dec_cos.numpy(), maximize=True)
    latent_of = {int(f): int(lat) for lat, f in zip(rows, cols)}
    z = sae.encode(x)
    recon = sae.decode(z)
    fvu = float((x - recon).pow(2).sum() / (x - x.mean(0)).pow(2).sum())
    l0 = float((z > 0).sum(1).float().mean())
    active = mags > 0
    features = []
    for f in range(tree.n_features):
        lat = latent_of.get(f)
        row: dict[str, Any] = {"feature": f, "parent": tree.feature_parent(f), "latent": lat,
                               "decoder_cos": None, "encoder_cos": None, "absorption": None,
                               "absorption_with_child": None}
        if lat is not None:
            silent = z[:, lat] <= 0
            row["decoder_cos"] = float(dec_cos[lat, f])
            row["encoder_cos"] = float(enc_cos[lat, f])
            row["absorption"] = _rate(silent, active[:, f])
            kids = tree.feature_children(f)
            if kids:
                row["absorption_with_child"] = _rate(silent, active[:, f] & active[:, kids].any(1))
        features.append(row)
    matched = [latent_of[f] for f in range(tree.n_features) if f in latent_of]
    taken = set(matched)
    order = matched + [i for i in range(sae.n_latents) if i not in taken]
    return ToyModelResult(name=name, sae=sae, fvu=fvu, l0=l0, features=features, decoder_cos=dec_cos,
                          encoder_cos=enc_cos, order=order, train=summary)


def _rate(silent: torch.Tensor, where: torch.Tensor) -> float | None:
    n = int(where.sum())
    return float((silent & where).sum()) / n if n else None
