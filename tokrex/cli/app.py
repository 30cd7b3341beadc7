"""The tokrex command line: a thin layer over the library.

Each command group lives in its own module with a ``register(app)`` function.
Heavy imports (torch, transformers, duckdb) happen inside commands, so
``tokrex --help`` and ``tokrex match`` start fast.
"""

from __future__ import annotations

import click
import typer
from typer.core import TyperGroup

from tokrex import __version__
from tokrex.errors import TokrexError


class _Group(TyperGroup):
    """Turns TokrexError into one red line on stderr and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context):
        from tokrex.cli.common import print_error

        try:
            return super().invoke(ctx)
        except TokrexError as exc:
            print_error(exc)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            from tokrex.cli.common import err_console

            err_console.print("[yellow]Interrupted.[/] Work written so far is kept; run the same command again to resume.")
            ctx.exit(130)


app = typer.Typer(
    cls=_Group,
    name="tokrex",
    help="Token-regex search over sparse-autoencoder activations: which SAE latents explain this pattern?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tokrex {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Token-regex search over sparse-autoencoder activations."""


def _register_all() -> None:
    from tokrex.cli import corpus, demo, encode, latent, match, sae, search, sql, toy, train

    for module in (corpus, match, train, sae, encode, search, latent, sql, demo, toy):
        module.register(app)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
