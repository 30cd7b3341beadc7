"""Small in-memory corpora and firings for the query tests (no model, no store)."""

from __future__ import annotations

import numpy as np

from tokrex.corpus.vocab import Vocab


class MemoryCorpus:
    """The parts of ``tokrex.corpus.Corpus`` the query stage uses, over in-memory arrays."""

    def __init__(self, ids: np.ndarray, doc_offsets: np.ndarray, vocab: Vocab):
        self.ids = np.asarray(ids, dtype=np.uint16)
        self.doc_offsets = np.asarray(doc_offsets, dtype=np.int64)
        self.vocab = vocab
        self.n_tokens = len(self.ids)
        self.n_docs = len(self.doc_offsets) - 1


def word_vocab(words: list[str]) -> Vocab:
    surface = [" " + w if w[0].isalnum() else w for w in words]
    return Vocab(piece=list(words), surface=surface, core=list(words), word_start=[w[0].isalnum() for w in words])


WORDS = ["the", "cat", "Alice", "Bob", "sat", ".", "on", "mat", "Carol", "dog", ",", "ran"]


def random_corpus(seed: int, n_tokens: int = 400, n_docs: int = 7) -> MemoryCorpus:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, len(WORDS), n_tokens)
    cuts = np.sort(rng.choice(np.arange(1, n_tokens), n_docs - 1, replace=False))
    return MemoryCorpus(ids, np.concatenate([[0], cuts, [n_tokens]]), word_vocab(WORDS))


def random_store(seed: int, n_tokens: int = 240, n_latents: int = 12, density: float = 0.2, levels: int = 4):
    """A dense float16 activation matrix with ties (few distinct values) and some dead latents."""
    rng = np.random.default_rng(seed)
    fire = rng.random((n_tokens, n_latents)) < rng.uniform(0, density * 2, n_latents)
    values = rng.integers(1, levels + 1, (n_tokens, n_latents)) / levels
    acts = (fire * values).astype(np.float16)
    acts[:, rng.integers(n_latents)] = 0  # a dead latent
    return acts


def random_positives(seed: int, n_tokens: int, share: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    return np.flatnonzero(rng.random(n_tokens) < share).astype(np.int64)


def brute_metrics(acts: np.ndarray, positives: np.ndarray, threshold: float = 0.0) -> dict[str, np.ndarray]:
    a = acts.astype(np.float64)
    n, _ = a.shape
    mask = np.zeros(n, dtype=bool)
    mask[positives] = True
    m = mask.astype(np.float64)
    fires = a > threshold
    tp = (fires & mask[:, None]).sum(0)
    n_fires = fires.sum(0)
    p = mask.sum()
    out = {"tp": tp, "fp": n_fires - tp, "fn": p - tp, "n_fires": n_fires}
    with np.errstate(invalid="ignore", divide="ignore"):
        out["precision"] = np.where(n_fires > 0, tp / np.maximum(n_fires, 1), 0.0)
        out["recall"] = tp / p if p else np.zeros(len(tp))
        out["f1"] = np.where(n_fires + p > 0, 2 * tp / np.maximum(n_fires + p, 1), 0.0)
        norms = np.linalg.norm(a, axis=0) * np.linalg.norm(m)
        out["cosine"] = np.where(norms > 0, (m @ a) / np.where(norms > 0, norms, 1), 0.0)
        out["mean_act_pos"] = a[mask].mean(0) if p else np.zeros(a.shape[1])
        out["mean_act_neg"] = a[~mask].mean(0) if p < n else np.zeros(a.shape[1])
        out["miss_share"] = (p - tp) / p if p else np.zeros(len(tp))
    return out


def brute_auroc(acts: np.ndarray, positives: np.ndarray) -> np.ndarray:
    a = acts.astype(np.float64)
    mask = np.zeros(len(a), dtype=bool)
    mask[positives] = True
    out = []
    for j in range(a.shape[1]):
        pos, neg = a[mask, j], a[~mask, j]
        if len(pos) == 0 or len(neg) == 0:
            out.append(0.5)
            continue
        diff = pos[:, None] - neg[None, :]
        out.append(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)
    return np.array(out)
