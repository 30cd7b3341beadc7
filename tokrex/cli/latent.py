"""`tokrex latent ID --sae CKPT`: a terminal dashboard for one latent (or all of it as JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from tokrex.cli.common import Format, OutOption, dump_json, write_output


def _config(**kwargs: Any) -> Any:
    from tokrex.errors import UsageError
    from tokrex.query.latent import LatentConfig

    try:
        return LatentConfig(**kwargs)
    except ValueError as exc:
        raise UsageError(f"{exc}.") from None


def latent(
    latent_id: int = typer.Argument(..., metavar="ID", show_default=False, help="The latent's id (0-based index into the SAE's dictionary)."),
    sae: str = typer.Option(..., "--sae", metavar="CKPT", help="The SAE: a checkpoint folder (tokrex, SAELens, sparsify, dictionary_learning) or the id of an SAE encoded in the store (then without decoder neighbours)."),
    store: Optional[Path] = typer.Option(None, "--store", "-s", metavar="DIR", show_default=False, help="The corpus store (default: $TOKREX_STORE, else the store `tokrex demo` builds)."),
    contexts: int = typer.Option(8, "--contexts", min=0, help="Top-activating contexts to show."),
    width: int = typer.Option(8, "--width", "-C", min=0, help="Tokens of context on each side of the centre token."),
    quantiles: str = typer.Option("0.99,0.9,0.75,0.5,0.25", "--quantiles", help="Comma-separated activation quantiles (among the latent's firings) to sample contexts at."),
    per_quantile: int = typer.Option(2, "--per-quantile", min=0, help="Contexts shown per quantile."),
    bins: int = typer.Option(16, "--bins", min=1, help="Bars of the activation histogram."),
    top_tokens: int = typer.Option(10, "--top-tokens", min=0, help="Tokens listed by firing count and by mean activation."),
    min_count: int = typer.Option(3, "--min-count", min=0, help="List a token by mean activation only when the latent fires on it at least N times."),
    cofiring: int = typer.Option(10, "--cofiring", min=0, help="Co-firing latents to list (ranked by Jaccard overlap of firing sets)."),
    neighbours: int = typer.Option(10, "--neighbours", min=0, help="Nearest latents by decoder cosine to list."),
    relative_share: float = typer.Option(0.95, "--relative-share", help="Matryoshka relatives: share of co-firing that makes an earlier-level latent a parent (of this latent's firings) or a later-level one a child (of its own firings)."),
    fmt: Format = typer.Option(Format.table, "--format", help="table (dashboard) or json (all of it, one object; see docs/output.md)."),
    out: Optional[Path] = OutOption,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars on stderr (encoding, index builds)."),
) -> None:
    """Show one latent: firing frequency, activation histogram, top-activating contexts, quantile
    samples, top tokens, co-firing latents, nearest latents by decoder cosine and Matryoshka relatives.
    """
    from tokrex.corpus import open_corpus
    from tokrex.errors import UsageError
    from tokrex.query.latent import check_latent, latent_view
    from tokrex.query.resolve import ensure, open_sae_firings, store_path

    cfg = _config(
        contexts=contexts, width=width, quantiles=quantiles, per_quantile=per_quantile, bins=bins,
        top_tokens=top_tokens, min_count=min_count, cofiring=cofiring, neighbours=neighbours,
        relative_share=relative_share,
    )
    if fmt not in (Format.table, Format.json):
        raise UsageError("tokrex latent writes --format table or json.")
    corpus = open_corpus(store_path(store))
    sae_path = Path(sae).expanduser()
    W_dec = None
    if sae_path.exists():
        from tokrex.sae.load import load_sae

        model = load_sae(sae_path)
        check_latent(latent_id, model.n_latents)
        firings = ensure(corpus, model, progress=progress)
        W_dec = model.W_dec.detach().float().cpu().numpy()
    else:
        firings, _ = open_sae_firings(corpus, sae, progress=progress)
    firings.progress = progress  # bars for index builds too
    view = latent_view(latent_id, corpus, firings, cfg, W_dec=W_dec)
    if fmt is Format.json:
        write_output(dump_json(view), out)
    else:
        from tokrex.cli.latent_report import print_dashboard

        print_dashboard(view, sae, out)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the tokrex app."""
    app.command("latent")(latent)
