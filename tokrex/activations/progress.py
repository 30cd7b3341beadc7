"""A rich progress bar on stderr counting tokens, with tokens/s."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator


@contextlib.contextmanager
def token_progress(description: str, total: int, *, enabled: bool = True, done: int = 0) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n_tokens)``; draws a bar with tokens/s on stderr when ``enabled``."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("tokens"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, completed=done, rate="")
        import time

        t0, counted = time.perf_counter(), 0

        def advance(n: int) -> None:
            nonlocal counted
            counted += n
            rate = counted / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, advance=n, rate=f"{rate:,.0f} tok/s")

        yield advance
