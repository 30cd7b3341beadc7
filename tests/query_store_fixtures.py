"""Real tiny stores for the search and latent tests.

``planted_store``: the inline texts with the GPT-2-style tokenizer, plus synthetic firings of a
16-latent "SAE" (groups 4, 8, 16) whose latents are planted: L0 fires on every capitalized word
token, L5 and L9 split those tokens between them (L9 absorbs L5's hole), L2 fires on digits, the
rest is seeded noise. ``tiny_sae_dir``: a random tokrex checkpoint for the 2-layer GPT-2 fixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import regex

SAE_ID = "5eed0000c0ffee42"
N_LATENTS = 16
GROUPS = [4, 8, 16]
CAPITALIZED = regex.compile(r"[A-Z][a-z]+")


@dataclass
class Planted:
    store: Path
    sae_id: str
    acts: np.ndarray  # dense [n_tokens, N_LATENTS], float16 values as stored
    ids: np.ndarray
    core: list[str]

    def positives(self, predicate) -> np.ndarray:
        return np.flatnonzero([predicate(self.core[i]) for i in self.ids])


def _planted_acts(ids: np.ndarray, core: list[str]) -> np.ndarray:
    rng = np.random.default_rng(7)
    n = len(ids)
    acts = np.zeros((n, N_LATENTS), dtype=np.float32)
    cap = np.array([bool(CAPITALIZED.fullmatch(core[i])) for i in ids])
    digit = np.array([core[i].isdigit() for i in ids])
    cap_idx = np.flatnonzero(cap)
    acts[cap, 0] = 2.0 + rng.integers(0, 4, cap.sum()) / 4
    acts[cap_idx[0::2], 5] = 1.5
    acts[cap_idx[1::2], 9] = 1.0 + rng.integers(0, 4, len(cap_idx[1::2])) / 4
    acts[digit, 2] = 3.0
    noise = (rng.random((n, N_LATENTS)) < 0.15) * rng.integers(1, 5, (n, N_LATENTS)) / 4
    for j in (1, 3, 4, 6, 7, 8, 10, 11, 12, 13):
        acts[:, j] = noise[:, j]
    acts[:, 14] = np.where(cap & (rng.random(n) < 0.5), 0.5, 0.0) + np.where(~cap & (rng.random(n) < 0.3), 0.75, 0)
    # latent 15 never fires
    return acts.astype(np.float16)


def planted_texts() -> list[str]:
    """The inline texts and six Python documentation topics (about 6,000 tokens)."""
    from pydoc_data.topics import topics

    from conftest import TEXTS

    return list(TEXTS) + [topics[k] for k in sorted(topics)[:6]]


@pytest.fixture(scope="session")
def planted(tmp_path_factory, gpt2_tokenizer_dir) -> Planted:
    import pyarrow as pa

    from tokrex.corpus import CorpusConfig, build_corpus, open_corpus
    from tokrex.store import write_firings

    root = tmp_path_factory.mktemp("query")
    files = []
    for i, text in enumerate(planted_texts()):
        files.append(root / f"doc{i:02d}.txt")
        files[-1].write_text(text, encoding="utf-8")
    store = root / "store"
    build_corpus(CorpusConfig(inputs=files, tokenizer=str(gpt2_tokenizer_dir), store=store, progress=False))
    corpus = open_corpus(store)
    ids = np.asarray(corpus.ids)
    core = corpus.vocab.core
    acts = _planted_acts(ids, core)
    token, latent = np.nonzero(acts > 0)
    rows = pa.table({"token": token.astype(np.int64), "latent": latent.astype(np.int32), "act": acts[token, latent]})
    write_firings(corpus, SAE_ID, rows, n_latents=N_LATENTS, groups=GROUPS)
    return Planted(store, SAE_ID, acts, ids, core)


@pytest.fixture(scope="session")
def tiny_sae_dir(tmp_path_factory, gpt2_model_dir) -> Path:
    """A random ReLU SAE (d_in 32, 24 latents in groups 8/24) for layer 1 of the GPT-2 fixture."""
    import torch
    from transformers import AutoTokenizer

    from tokrex.corpus import tokenizer_hash
    from tokrex.sae.checkpoint import save_checkpoint
    from tokrex.sae.meta import SaeMeta
    from tokrex.sae.model import Sae, SaeArch

    torch.manual_seed(3)
    sae = Sae(SaeArch(d_in=32, n_latents=24, groups=[8, 24]))
    with torch.no_grad():
        sae.W_enc.normal_(0, 0.3)
        sae.b_enc.fill_(-0.4)
        sae.W_dec.normal_(0, 0.3)
    tok = AutoTokenizer.from_pretrained(gpt2_model_dir)
    meta = SaeMeta(format="tokrex", model=str(gpt2_model_dir), layer=1, hook="resid_post", ctx=32,
                   tokenizer_hash=tokenizer_hash(tok))
    out = tmp_path_factory.mktemp("sae") / "ckpt"
    save_checkpoint(sae, meta, out)
    return out
