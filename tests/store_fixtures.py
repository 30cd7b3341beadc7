"""Helpers for the firings-store tests: a minimal corpus stand-in, random SAEs, brute-force firings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


class StandInCorpus:
    """What the store reads from a corpus (path, sizes, identity), without token files."""

    def __init__(self, path: Path, n_tokens: int, *, n_docs: int = 1, tokenizer_hash: str = "ab" * 32,
                 content_hash: str = "c0ffee"):
        self.path = Path(path)
        self.n_tokens = n_tokens
        self.n_docs = n_docs
        self.tokenizer_hash = tokenizer_hash
        self.content_hash = content_hash
        self.manifest = {"content_hash": content_hash}


def random_firings(rng: np.random.Generator, n_tokens: int, n_latents: int, density: float):
    """Dense float32 acts [n_tokens, n_latents] (zeros where silent) and their sorted sparse rows."""
    dense = np.where(rng.random((n_tokens, n_latents)) < density, rng.random((n_tokens, n_latents)) * 4 + 1e-3, 0)
    dense = dense.astype(np.float32)
    token, latent = np.nonzero(dense)
    return dense, token.astype(np.int64), latent.astype(np.int32), dense[token, latent]


def random_sae(d_in: int = 32, n_latents: int = 48, *, activation: str = "topk", k: int | None = 4,
               groups: list[int] | None = None, seed: int = 0, bias: float = 0.0):
    import torch

    from tokrex.sae.model import Sae, SaeArch

    torch.manual_seed(seed)
    sae = Sae(SaeArch(d_in, n_latents, activation, k=k if activation in ("topk", "batchtopk") else None,
                      groups=list(groups or [])))
    with torch.no_grad():
        sae.W_enc.normal_(0, 0.5)
        sae.W_dec.normal_(0, 0.5)
        sae.b_enc.fill_(bias)
    return sae


def sparse_of(dense: np.ndarray):
    token, latent = np.nonzero(dense > 0)
    return token.astype(np.int64), latent.astype(np.int32), dense[token, latent]


def stored(act: np.ndarray) -> np.ndarray:
    """Activations as the store keeps them."""
    return np.clip(act.astype(np.float32), 2.0**-24, 65504).astype(np.float16)


@pytest.fixture(scope="session")
def store_corpus(tmp_path_factory, gpt2_tokenizer_dir, text_files) -> Path:
    """A real corpus store of the inline texts (GPT-2-style tokenizer); tests copy it before writing."""
    from tokrex.corpus import CorpusConfig, build_corpus

    store = tmp_path_factory.mktemp("storecorpus") / "store"
    build_corpus(CorpusConfig(inputs=list(text_files), tokenizer=str(gpt2_tokenizer_dir), store=store, progress=False))
    return store


@pytest.fixture()
def corpus_copy(tmp_path, store_corpus):
    """A private copy of ``store_corpus`` (tests write firings into it), opened."""
    import shutil

    from tokrex.corpus import open_corpus

    dst = tmp_path / "store"
    shutil.copytree(store_corpus, dst, ignore=shutil.ignore_patterns("firings", "latents", "saes", "activations"))
    return open_corpus(dst)


@pytest.fixture(scope="session")
def gpt2_sae_dir(tmp_path_factory, gpt2_model_dir) -> Path:
    """A random TopK SAE checkpoint (d_in 32, 40 latents in groups 8/40) for layer 0 of the GPT-2 fixture."""
    from transformers import AutoTokenizer

    from tokrex.corpus import tokenizer_hash
    from tokrex.sae.checkpoint import save_checkpoint
    from tokrex.sae.meta import SaeMeta

    sae = random_sae(32, 40, activation="topk", k=5, groups=[8, 40], seed=1)
    tok = AutoTokenizer.from_pretrained(gpt2_model_dir)
    meta = SaeMeta(format="tokrex", model=str(gpt2_model_dir), layer=0, hook="resid_post", ctx=16,
                   tokenizer_hash=tokenizer_hash(tok))
    out = tmp_path_factory.mktemp("storesae") / "ckpt"
    save_checkpoint(sae, meta, out)
    return out
