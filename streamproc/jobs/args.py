"""Options of a job's entry point, declared once: the submitting side builds a dataclass
and turns it into ``argv`` (``job_argv``); the ``trainers`` entry point generates its
argparse options from the same dataclass (``add_job_args``), so names, types, defaults
and help cannot drift apart. Field ``foo_bar`` is ``--foo-bar``; metadata holds ``help``
and optionally ``choices``; a bool is a flag; None is left out."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

SEARCHES = ("grid", "evolutionary")
OBJECTIVES = ("auto", "auc", "label-free")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _opt(default: Any, help: str, choices: tuple[str, ...] | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices})


def _req(help: str) -> Any:
    return field(metadata={"help": help})


@dataclass(frozen=True)
class TuneArgs:
    """``python -m trainers.tune``: what ``streamproc tune`` sends."""

    data: str = _req("Dataset root (train/, test/, test_labels.json), as the job sees it.")
    out: str = _req("Results folder (table, plot, best artifact), as the job sees it.")
    search: str = _opt("grid", "grid or evolutionary.", SEARCHES)
    trials: int = _opt(8, "Trials (grid: at most this many points).")
    objective: str = _opt(
        "auto", "auto = auc when DATA has test labels, else label-free.", OBJECTIVES
    )
    f1_weight: float = _opt(0.0, "Weight of validation F1 in the objective (0..1).")
    concurrency: int = _opt(2, "Trials running at once.")
    store: str | None = _opt(None, "Model store dir or fsspec URI for the best (OUT/store).")
    name: str | None = _opt(None, "Model name in the store (default: the model's name).")
    promote: bool = _opt(False, "Make the best the current version.")
    val_clips: str | None = _opt(None, "Validation clips, comma-separated (default every 4th).")


def _base_type(hint: Any) -> type:
    """``int`` for ``int`` and ``int | None``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return typing.cast(type, inner)
    return typing.cast(type, hint)


def add_job_args(parser: argparse.ArgumentParser, cls: type) -> None:
    """argparse options for every field of the dataclass ``cls``."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind, meta = _base_type(hints[f.name]), f.metadata
        required = f.default is dataclasses.MISSING
        if kind is bool:
            parser.add_argument(flag(f.name), action="store_true", help=meta["help"])
            continue
        parser.add_argument(
            flag(f.name),
            type=kind,
            required=required,
            default=None if required else f.default,
            choices=meta.get("choices"),
            help=meta["help"],
        )


def job_argv(args: Any) -> list[str]:
    """The command line that ``add_job_args``' parser reads back into ``args``."""
    out: list[str] = []
    for f in dataclasses.fields(args):
        value = getattr(args, f.name)
        if value is None or value is False:
            continue
        out += [flag(f.name)] if value is True else [flag(f.name), str(value)]
    return out


def help_of(cls: type, name: str) -> str:
    """The help text of field ``name`` (for the CLI's own option declaration)."""
    return str(next(f for f in dataclasses.fields(cls) if f.name == name).metadata["help"])
