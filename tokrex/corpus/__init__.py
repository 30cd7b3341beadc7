"""Building and opening a tokenized corpus store.

``open_corpus``, ``Corpus`` and ``Vocab`` are light (numpy, pyarrow on use); building and
loading tokenizers import transformers only when called.
"""

from tokrex.corpus.build import CorpusConfig, build_corpus, token_dtype
from tokrex.corpus.store import Corpus, open_corpus
from tokrex.corpus.tokenizer import load_tokenizer, tokenizer_hash
from tokrex.corpus.vocab import Vocab

__all__ = ["Corpus", "CorpusConfig", "Vocab", "build_corpus", "load_tokenizer", "open_corpus", "token_dtype", "tokenizer_hash"]
