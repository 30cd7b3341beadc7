"""`tokrex train` end to end on the tiny GPT-2, its options and its errors."""

from __future__ import annotations

import dataclasses
import json

import click
import pytest
import typer.main
from typer.testing import CliRunner

from train_fixtures import one_thread, train_store  # noqa: F401

from tokrex.cli.app import app
from tokrex.sae.checkpoint import load_checkpoint
from tokrex.sae.config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")
ENV = {"COLUMNS": "120"}


def _run(args):
    return CliRunner().invoke(app, ["train", *map(str, args)], env=ENV)


def _base(store, model, out):
    return ["--store", store, "--model", model, "--layer", 0, "--latents", 64, "--k", 4, "--batch-size", 128,
            "--ctx", 32, "--holdout", "2k", "--out", out]


def test_train_end_to_end(train_store, gpt2_model_dir, tmp_path):
    out = tmp_path / "ck"
    result = _run([*_base(train_store, gpt2_model_dir, out), "--tokens", "25k", "--groups", "16,32", "--log-every", 25])
    assert result.exit_code == 0, result.output
    assert "Held-out evaluation" in result.output and "FVU" in result.output and "dead latents" in result.output
    sae = load_checkpoint(out)
    assert sae.arch.groups == [16, 32, 64] and sae.arch.activation == "batchtopk" and sae.arch.k == 4
    summary = json.loads((out / "cfg.json").read_text())["training"]
    assert summary["steps"] == 25_000 // 128 and summary["holdout"]["fvu"] < 0.7
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["step"] == 195 and {"loss", "l0", "fvu", "fvu_prefix", "dead_frac", "tokens_per_s"} <= set(lines[-1])
    # a second run into the same directory refuses; with --resume it reports the finished run
    again = _run([*_base(train_store, gpt2_model_dir, out), "--tokens", "25k", "--groups", "16,32"])
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = _run([*_base(train_store, gpt2_model_dir, out), "--tokens", "25k", "--groups", "16,32", "--resume"])
    assert resumed.exit_code == 0, resumed.output


@pytest.mark.parametrize("extra,message", [
    (["--l0", "3"], "relu"),
    (["--groups", "a,b"], "--groups"),
    (["--tokens", "lots"], "not a count"),
    (["--groups", "64,16"], "increasing"),
])
def test_bad_options_exit_2(train_store, gpt2_model_dir, tmp_path, extra, message):
    result = _run([*_base(train_store, gpt2_model_dir, tmp_path / "ck"), *extra])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "ck").exists()


def test_tokenizer_mismatch_is_one_line(train_store, bert_model_dir, tmp_path):
    result = _run(_base(train_store, bert_model_dir, tmp_path / "ck"))
    assert result.exit_code == 1 and "tokenizer" in result.output and "Traceback" not in result.output


def test_every_config_field_is_an_option_with_help():
    root = typer.main.get_command(app)
    cmd = root.get_command(click.Context(root), "train")
    options = {opt: p for p in cmd.params for opt in p.opts}
    for f in dataclasses.fields(TrainConfig):
        opt = "--" + f.name.replace("_", "-")
        assert opt in options, opt
        assert options[opt].help, opt


def test_progress_shows_every_field_in_a_narrow_log(train_store, gpt2_model_dir, tmp_path):
    """Off a terminal (a pipe, a CI log, 80 columns) each log step is one whole line: nothing is cut off."""
    import re

    args = ["--store", train_store, "--model", gpt2_model_dir, "--layer", 0, "--k", 4, "--batch-size", 128, "--ctx", 32,
            "--holdout", "2k", "--tokens", 128 * 40, "--log-every", 20, "--groups", "16,32,64", "--out", tmp_path / "ck"]
    result = CliRunner().invoke(app, ["train", *map(str, args)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("step ")]
    assert len(lines) == 2, result.output
    pattern = (r"^step 40/40  [\d,]+ tok/s  loss [\d.]+  L0 [\d.]+  FVU [\d.]+ "
               r"\(per prefix 16:[\d.]+ 32:[\d.]+ 64:[\d.]+\)  dead [\d.]+%$")
    assert re.match(pattern, lines[-1]), lines[-1]
    # --latents defaults to the last group end; the summary names dead latents, time and tokens/s
    assert json.loads((tmp_path / "ck" / "cfg.json").read_text())["n_latents"] == 64
    assert re.search(r"dead latents \d+ \([\d.]+%\); 40 steps, 5,120 tokens in [\d.]+ s \([\d,]+ tokens/s\)", result.output)
