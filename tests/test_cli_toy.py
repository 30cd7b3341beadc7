"""`tokrex toy` through the CLI, with tiny settings: the JSON object, the table, the files, the errors."""

from __future__ import annotations

import dataclasses
import json
import sys

import click
import pytest
import typer.main
from typer.testing import CliRunner

from tokrex.cli.app import app
from tokrex.sae.config import parse_count
from tokrex.toy import ToyConfig, default_tree
from tokrex.toy.plot import tree_groups

from train_fixtures import one_thread  # noqa: F401

pytestmark = pytest.mark.usefixtures("one_thread")

ENV = {"COLUMNS": "100", "NO_COLOR": "1"}
TINY = ["--samples", "50k", "--eval-samples", "5k", "--no-progress"]
FEATURE_KEYS = ["feature", "parent", "latent", "decoder_cos", "encoder_cos", "absorption", "absorption_with_child"]
PNG = b"\x89PNG\r\n\x1a\n"


def run(*args: str):
    return CliRunner().invoke(app, ["toy", *args], env=ENV)


def test_json_is_the_documented_object_and_files_are_written(tmp_path):
    out = tmp_path / "out"
    result = run(*TINY, "--format", "json", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # one object, nothing else on stdout
    assert list(data) == ["tree", "seed", "models"]
    assert data["seed"] == 0 and data["tree"] == default_tree().source
    assert list(data["models"]) == ["vanilla", "matryoshka"]
    for model in data["models"].values():
        assert list(model) == ["fvu", "l0", "features"]
        assert 0 <= model["fvu"] < 1 and model["l0"] > 0
        assert len(model["features"]) == 20
        assert [list(row) for row in model["features"]] == [FEATURE_KEYS] * 20
        assert [row["feature"] for row in model["features"]] == list(range(20))
        assert sorted(row["latent"] for row in model["features"]) == list(range(20))
        assert [row["parent"] for row in model["features"][:4]] == [None, 0, 0, 0]
        assert all(row["absorption_with_child"] is None for row in model["features"][12:])
    assert json.loads((out / "toy.json").read_text(encoding="utf-8")) == data
    for name in ("vanilla", "matryoshka"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG
    assert sorted(p.name for p in out.iterdir()) == ["matryoshka.png", "toy.json", "vanilla.png"]  # no temporaries
    assert "Wrote" in result.stderr and "Traceback" not in result.output


def test_table_names_both_models_and_the_summary(tmp_path):
    result = run(*TINY, "--no-plots", "--seed", "3", "--out", str(tmp_path / "t"))
    assert result.exit_code == 0, result.output
    out = result.stdout
    for words in ("vanilla SAE", "matryoshka SAE", "dec cos", "enc cos", "absorption", "with child", "A3", "I8",
                  "mean parent absorption", "min decoder cos", "toy.json"):
        assert words in out, (words, out)
    assert out.count("FVU") == 2 and ".png" not in out
    assert json.loads((tmp_path / "t" / "toy.json").read_text(encoding="utf-8"))["seed"] == 3
    assert not (tmp_path / "t" / "vanilla.png").exists()


def test_default_out_is_toy_out_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(*TINY, "--no-plots", "--format", "json")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "toy-out" / "toy.json").is_file()


def test_custom_tree_file_with_progress_on_stderr(tmp_path):
    tree = {"active_prob": 1.0, "is_read_out": False, "children": [
        {"id": "P", "active_prob": 0.3, "mutually_exclusive_children": True,
         "children": [{"id": "P1", "active_prob": 0.5}, {"id": "P2", "active_prob": 0.5}]},
        {"id": "Q", "active_prob": 0.2}]}
    path = tmp_path / "tree.json"
    path.write_text(json.dumps(tree), encoding="utf-8")
    result = run("--samples", "50k", "--eval-samples", "5k", "--no-plots", "--tree", str(path), "--d-model", "8",
                 "--format", "json", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # the progress bars went to stderr
    assert "vanilla" in result.stderr and "matryoshka" in result.stderr and "steps" in result.stderr
    assert data["tree"]["children"][0]["id"] == "P"
    for model in data["models"].values():
        assert [(r["feature"], r["parent"]) for r in model["features"]] == [(0, None), (1, 0), (2, 0), (3, None)]


def test_bad_tree_is_one_error_line_naming_the_node(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"active_prob": 1.0, "children": [{"id": "A", "active_prob": 0.1, "children": [
        {"id": "A1", "active_prob": 1.5}]}]}), encoding="utf-8")
    result = run(*TINY, "--tree", str(path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("Error:") == 1
    assert "root.children[0].children[0] ('A1')" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output and result.stdout == ""
    assert not (tmp_path / "o").exists()


def test_missing_tree_file_is_a_clear_error(tmp_path):
    result = run(*TINY, "--tree", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "nope.json does not exist" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args,message", [
    (["--samples", "0"], "--samples must be positive"),
    (["--samples", "lots"], "is not a count"),
    (["--eval-samples", "0"], "--eval-samples must be positive"),
    (["--samples", "100", "--batch-size", "512"], "at least one batch"),
    (["--lr", "0"], "--lr must be positive"),
    (["--l0", "25"], "--l0 must be below the number of read-out features (20)"),
    (["--device", "tpu9"], "Unknown device"),
    (["--l1-rate", "0"], "--l1-rate must be between 0 and 1"),
    (["--l1-warmup", "1"], "--l1-warmup is a fraction of the run"),
])
def test_bad_values_are_usage_errors(tmp_path, args, message):
    result = run(*TINY, *args, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_out_must_be_a_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run(*TINY, "--out", str(tmp_path / "file"))
    assert result.exit_code == 2 and "is a file" in result.stderr


def test_missing_matplotlib_is_reported_before_training(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    result = run(*TINY, "--out", str(tmp_path / "o"))
    assert result.exit_code == 1
    assert "pip install 'tokrex[toy]'" in result.stderr and "--no-plots" in result.stderr
    assert not (tmp_path / "o").exists()


def test_every_config_field_is_an_option_with_its_default():
    root = typer.main.get_command(app)
    cmd = root.get_command(click.Context(root), "toy")
    options = {p.name: p for p in cmd.params if p.param_type_name == "option"}
    defaults = ToyConfig()
    for f in dataclasses.fields(ToyConfig):
        assert f.name in options, f.name
        option = options[f.name]
        assert option.help, f.name
        assert option.opts[0] == "--" + f.name.replace("_", "-")
        shown = option.default
        if f.name in ("samples", "eval_samples"):
            shown = parse_count(shown)
        assert shown == getattr(defaults, f.name), (f.name, shown, getattr(defaults, f.name))


def test_tree_groups_of_the_default_tree():
    assert tree_groups(default_tree()) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], list(range(12, 20))]
