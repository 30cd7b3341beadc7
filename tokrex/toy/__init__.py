"""The feature-absorption toy model: a tree of ground-truth features, SAEs trained on it, and scores."""

from tokrex.lazy import lazy_getattr

from tokrex.toy.config import ToyConfig

# torch-backed parts, resolved on first use (``import tokrex.toy`` stays light for the CLI)
_LAZY = {
    "ToyResult": ("tokrex.toy.run", "ToyResult"),
    "run_toy": ("tokrex.toy.run", "run_toy"),
    "Tree": ("tokrex.toy.tree", "Tree"),
    "default_tree": ("tokrex.toy.tree", "default_tree"),
    "load_tree": ("tokrex.toy.tree", "load_tree"),
    "parse_tree": ("tokrex.toy.tree", "parse_tree"),
}

__all__ = ["ToyConfig", *_LAZY]


__getattr__ = lazy_getattr("tokrex.toy", globals(), _LAZY)
