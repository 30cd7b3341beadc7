"""Building and opening a tokenized corpus store."""
from tokrex.corpus.vocab import Vocab
