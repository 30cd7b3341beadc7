"""Generate docs/cli.md from the CLI's own --help (``make docs``).

``python docs/gen_cli.py --check`` exits 1 when docs/cli.md is stale; a test runs it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

WIDTH = 100
OUT = Path(__file__).resolve().parent / "cli.md"


def _commands(cmd, path):
    """Yield (path, command) for a click command tree, depth first, in definition order."""
    import click

    yield path, cmd
    if hasattr(cmd, "list_commands"):  # typer ships its own click: not a click.Group
        for name in cmd.list_commands(click.Context(cmd)):
            yield from _commands(cmd.get_command(click.Context(cmd), name), [*path, name])


def render() -> str:
    os.environ["COLUMNS"] = str(WIDTH)
    os.environ["NO_COLOR"] = "1"
    os.environ["TERM"] = "dumb"
    import typer.main
    from typer.testing import CliRunner

    from tokrex.cli.app import app

    runner = CliRunner()
    root = typer.main.get_command(app)
    parts = [
        "# Command-line reference\n",
        "Generated from `--help` by `docs/gen_cli.py` (`make docs`); a test fails when this file is stale.\n",
    ]
    for path, _ in _commands(root, []):
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH), "NO_COLOR": "1", "TERM": "dumb"})
        if result.exit_code != 0:
            raise SystemExit(f"`tokrex {' '.join(path)} --help` failed:\n{result.output}")
        text = "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())
        title = " ".join(["tokrex", *path])
        parts.append(f"## `{title}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print("docs/cli.md is stale: run `make docs` (python docs/gen_cli.py).", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
