"""A rich progress bar on stderr (rows or tokens, with a rate); a no-op when disabled."""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator


@contextlib.contextmanager
def progress_bar(description: str, total: int, *, unit: str = "tokens", enabled: bool = True,
                 done: int = 0) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draws ``description``, a bar, done/total ``unit`` and the rate when ``enabled``."""
    if not enabled:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, completed=done, rate="")
        t0, counted = time.perf_counter(), 0
        unit_rate = "tok" if unit == "tokens" else unit

        def advance(n: int) -> None:
            nonlocal counted
            counted += n
            rate = counted / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, advance=n, rate=f"{rate:,.0f} {unit_rate}/s")

        yield advance
