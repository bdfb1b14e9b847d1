"""Training progress on the console: a bar per epoch with its loss and the time left,
for `streamproc train` and for the demo model that `streamproc run` trains first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from streamproc.cli.common import console

if TYPE_CHECKING:  # the training package loads torch
    from streamproc.training.epochs import StepHook

ClipHook = Callable[[str], None]


@contextmanager
def training_progress() -> Iterator[tuple[StepHook, ClipHook]]:
    """The ``on_step`` and ``on_clip`` hooks of ``streamproc.training.train`` that draw it."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        load_task = bar.add_task("reading clips", total=None, info="")
        task = bar.add_task("epoch", total=None, info="", visible=False)

        def on_clip(name: str) -> None:
            bar.update(load_task, advance=1, info=name)

        def on_step(
            epoch: int, epochs: int, step: int, steps: int, parts: dict[str, float]
        ) -> None:
            bar.update(load_task, visible=False)
            if step + 1 == steps:  # a line per epoch survives in logs and CI output
                bar.console.print(f"epoch {epoch + 1}/{epochs} loss {parts['loss']:.5f}")
            bar.update(
                task,
                visible=True,
                total=epochs,
                completed=epoch + (step + 1) / steps,
                description=f"epoch {epoch + 1}/{epochs}",
                info=f"loss {parts['loss']:.5f}",
            )

        yield on_step, on_clip
