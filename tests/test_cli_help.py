"""Every command has help, and docs/cli.md is what --help says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import typer.main
from typer.testing import CliRunner

from tokrex.cli.app import app

ROOT = Path(__file__).resolve().parents[1]


def _walk(cmd, path=()):
    yield path, cmd
    if hasattr(cmd, "list_commands"):  # typer ships its own click: not a click.Group
        for name in cmd.list_commands(click.Context(cmd)):
            yield from _walk(cmd.get_command(click.Context(cmd), name), (*path, name))


def test_every_command_and_option_has_help():
    root = typer.main.get_command(app)
    missing = []
    for path, cmd in _walk(root):
        if path and not (cmd.help or cmd.short_help):
            missing.append(" ".join(path))
        for param in cmd.params:
            if param.param_type_name == "option" and not param.help and param.name != "help":
                missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert missing == []


def test_help_runs_for_every_command():
    runner = CliRunner()
    for path, _ in _walk(typer.main.get_command(app)):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("tokrex ")


def test_cli_reference_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_cli.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
