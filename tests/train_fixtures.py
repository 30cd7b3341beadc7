"""Fixtures for the activation and training tests: corpus stores made with the real store builder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import TEXTS


def train_texts(n_topics: int = 12) -> list[str]:
    """The inline texts (repeated) and some Python documentation topics: ~20k GPT-2 tokens."""
    from pydoc_data.topics import topics

    return TEXTS * 10 + [topics[k] for k in sorted(topics)[:n_topics]]


def build_store(tmp_path_factory, tokenizer: Path, name: str, texts: list[str]) -> Path:
    from tokrex.corpus import CorpusConfig, build_corpus

    src = tmp_path_factory.mktemp(f"{name}-src") / "docs.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    store = tmp_path_factory.mktemp(f"{name}-store") / "store"
    build_corpus(CorpusConfig(inputs=[src], tokenizer=str(tokenizer), store=store, progress=False))
    return store


@pytest.fixture(scope="session")
def train_store(tmp_path_factory, gpt2_model_dir) -> Path:
    """A store (~20k tokens) tokenized with the tiny GPT-2's tokenizer."""
    return build_store(tmp_path_factory, gpt2_model_dir, "gpt2train", train_texts())


@pytest.fixture(scope="session")
def bert_store(tmp_path_factory, bert_model_dir) -> Path:
    """A small store tokenized with the tiny BERT's WordPiece tokenizer."""
    return build_store(tmp_path_factory, bert_model_dir, "berttrain", TEXTS * 3)


def fresh_copy(store: Path, tmp_path: Path) -> Path:
    """A copy of a store without its activation caches (for tests that build one)."""
    import shutil

    dst = tmp_path / "store"
    shutil.copytree(store, dst, ignore=shutil.ignore_patterns("activations"))
    return dst


def random_sae(d: int = 16, n: int = 64, activation: str = "relu", k: int | None = None, seed: int = 0, **kw):
    from tokrex.sae.model import Sae, SaeArch

    g = torch.Generator().manual_seed(seed)
    sae = Sae(SaeArch(d_in=d, n_latents=n, activation=activation, k=k, **kw))
    with torch.no_grad():
        for p in (sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec):
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        sae.threshold.copy_(torch.rand(n, generator=g) * 0.2)
    return sae


@pytest.fixture(autouse=False)
def one_thread():
    """Run torch single-threaded: tiny tensors gain nothing from threads, and on a busy shared machine
    two spinning OpenMP threads make each small op wait for a time slice."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def gpt2_wide_model_dir(tmp_path_factory, gpt2_model_dir) -> Path:
    """A random 2-layer GPT-2 with the same tokenizer as ``gpt2_model_dir`` but d_model 48."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tok = AutoTokenizer.from_pretrained(gpt2_model_dir)
    torch.manual_seed(1)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=256, n_embd=48, n_layer=2, n_head=2,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    out = tmp_path_factory.mktemp("gpt2wide")
    GPT2LMHeadModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out
