"""Heatmaps of the toy experiment: latent x ground-truth cosine, one PNG per SAE, ordered to show the tree.

``save_heatmaps(result, out_dir)`` writes ``<model>.png`` for each model in ``result.models``: two
panels, decoder cosine and encoder cosine, both on a fixed -1..1 diverging scale (blue negative, red
positive, white 0). Columns are the ground-truth features in tree order (a parent, then its
children), rows the latents in ``ToyModelResult.order`` (the latent matched to each feature, in the
same order, then any unmatched latents), so a perfect SAE shows a red diagonal. Thin lines separate
the tree's groups: each top-level feature with its descendants, and the independent features.

matplotlib is optional (``pip install 'tokrex[toy]'``) and imported only here, with the Agg canvas:
nothing is drawn on a screen and no global backend is switched.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from tokrex import atomic
from tokrex.errors import ToyError

if TYPE_CHECKING:
    from tokrex.toy.run import ToyModelResult, ToyResult
    from tokrex.toy.tree import Tree

CMAP = "RdBu_r"
VMIN, VMAX = -1.0, 1.0
CELL_IN = 0.24
"""Inches per heatmap cell (the figure grows with the tree)."""


def require_matplotlib() -> None:
    """Raise ToyError, with the fix, when matplotlib is not installed (checked before training)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ToyError("Heatmaps need matplotlib: pip install 'tokrex[toy]', or pass --no-plots.") from None


def tree_groups(tree: Tree) -> list[list[int]]:
    """Features in tree order, split into display groups: each top-level feature with its
    descendants; consecutive top-level features without children (independents) share one group."""
    groups: list[list[int]] = []
    for f in range(tree.n_features):
        top = f
        while (parent := tree.feature_parent(top)) is not None:
            top = parent
        alone = not tree.feature_children(top)
        previous = groups[-1] if groups else None
        if previous is not None and (top != f or (alone and _is_independent(tree, previous[0]))):
            previous.append(f)
        else:
            groups.append([f])
    return groups


def _is_independent(tree: Tree, f: int) -> bool:
    return tree.feature_parent(f) is None and not tree.feature_children(f)


def save_heatmaps(result: ToyResult, out_dir: str | Path) -> list[Path]:
    """Write ``<model>.png`` for each model into ``out_dir`` (atomically); return the paths."""
    require_matplotlib()
    out = Path(out_dir)
    paths = []
    for name, model in result.models.items():
        path = out / f"{name}.png"
        atomic.write_bytes(path, heatmap_png(result.tree, model))
        paths.append(path)
    return paths


def heatmap_png(tree: Tree, model: ToyModelResult) -> bytes:
    """One model's figure (decoder and encoder cosine panels) as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_rows, n_cols = len(model.order), tree.n_features
    side_w, side_h = max(3.0, n_cols * CELL_IN), max(3.0, n_rows * CELL_IN)
    fig = Figure(figsize=(2 * side_w + 2.2, side_h + 1.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    col_lines, row_lines = _separators(tree, model)
    image = None
    for ax, (what, cos) in zip(axes, (("decoder", model.decoder_cos), ("encoder", model.encoder_cos))):
        data = cos[model.order].detach().cpu().float().numpy()
        image = ax.imshow(data, cmap=CMAP, vmin=VMIN, vmax=VMAX, aspect="equal", interpolation="nearest")
        ax.set_title(f"{what} cosine", fontsize=10)
        ax.set_xticks(range(n_cols), [tree.label(f) for f in range(n_cols)], rotation=90, fontsize=7)
        ax.set_yticks(range(n_rows), [f"L{lat}" for lat in model.order], fontsize=7)
        ax.set_xlabel("ground-truth feature", fontsize=8)
        ax.set_ylabel("latent", fontsize=8)
        ax.tick_params(length=0)
        for x in col_lines:
            ax.axvline(x - 0.5, color="0.25", linewidth=0.6)
        for y in row_lines:
            ax.axhline(y - 0.5, color="0.25", linewidth=0.6)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="cosine similarity")
    fig.suptitle(f"{model.name} SAE: FVU {model.fvu:.3f}, L0 {model.l0:.2f}", fontsize=11)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _separators(tree: Tree, model: ToyModelResult) -> tuple[list[int], list[int]]:
    """Column and row indices where a new group of the tree starts (rows follow the matched features)."""
    matched = {row["feature"] for row in model.features if row["latent"] is not None}
    cols, rows, row = [], [], 0
    for group in tree_groups(tree):
        if group[0] > 0:
            cols.append(group[0])
            rows.append(row)
        row += sum(f in matched for f in group)
    if row < len(model.order):
        rows.append(row)  # unmatched latents below the matched ones
    return cols, sorted(set(r for r in rows if 0 < r < len(model.order)))
