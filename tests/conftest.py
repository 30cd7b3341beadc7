"""Hermetic fixtures: tiny tokenizers and models built in-process, nothing downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# A small inline corpus: varied English with names, quotes, numbers and punctuation.
TEXTS = [
    'Alice met Bob in Boston. "Hello," said Alice, and Bob said "Hi".',
    "Mary and John went to Massachusetts in 1999; they stayed 12 days.",
    'The function returns None. Use "print" to show values, e.g. print(x).',
    "Harry Potter and Hermione Granger walked to Hogwarts. Harry smiled at Hermione.",
    'She said "yes" and he said "no". Emma, Olivia and Sophia laughed.',
    "Numbers like 3.14, 42 and 1000 appear in text; so do URLs and e-mail.",
    "In Python, a list is written [1, 2, 3] and a dict {'a': 1}.",
    "The quick brown fox jumps over the lazy dog. The dog sleeps.",
]


def _training_text() -> list[str]:
    from pydoc_data.topics import topics

    docs = [topics[k] for k in sorted(topics)[:40]]
    return TEXTS * 20 + docs


@pytest.fixture(scope="session")
def texts() -> list[str]:
    return list(TEXTS)


@pytest.fixture(scope="session")
def gpt2_tokenizer_dir(tmp_path_factory) -> Path:
    """A GPT-2-style byte-level BPE (vocab 600) trained on an inline corpus, saved as a HF tokenizer dir."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_training_text(), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>"
    )
    out = tmp_path_factory.mktemp("gpt2tok")
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def gpt2_model_dir(tmp_path_factory, gpt2_tokenizer_dir) -> Path:
    """A random 2-layer GPT-2 (d_model 32) with the BPE above, saved as a HF model dir."""
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tok = AutoTokenizer.from_pretrained(gpt2_tokenizer_dir)
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=len(tok), n_positions=256, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    )
    model = GPT2LMHeadModel(cfg)
    out = tmp_path_factory.mktemp("gpt2")
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def bert_model_dir(tmp_path_factory) -> Path:
    """A random 2-layer BERT (d_model 32) with a WordPiece tokenizer trained in-process."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=500, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(_training_text(), trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]",
    )
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(fast), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=256,
    )
    model = BertModel(cfg)
    out = tmp_path_factory.mktemp("bert")
    model.save_pretrained(out)
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def text_files(tmp_path_factory) -> list[Path]:
    """The inline corpus as one .txt file per document."""
    d = tmp_path_factory.mktemp("texts")
    paths = []
    for i, t in enumerate(TEXTS):
        p = d / f"doc{i:02d}.txt"
        p.write_text(t, encoding="utf-8")
        paths.append(p)
    return paths
