"""The embedded default pipeline behind `tokrex demo`.

``run_demo(DemoConfig(...)) -> DemoResult`` builds (or reuses) a corpus store of Python's
documentation topics, caches a middle layer of all-MiniLM-L6-v2, trains a Matryoshka SAE,
encodes the corpus and runs the example searches. Importing this package loads nothing heavy.
"""

from tokrex.demo.config import DemoConfig, default_home
from tokrex.demo.examples import EXAMPLES, Example
from tokrex.demo.run import DemoResult, DemoSearch, Stage, model_dir, run_demo, run_examples, topic_documents

__all__ = [
    "DemoConfig", "DemoResult", "DemoSearch", "EXAMPLES", "Example", "Stage", "default_home", "model_dir",
    "run_demo", "run_examples", "topic_documents",
]
