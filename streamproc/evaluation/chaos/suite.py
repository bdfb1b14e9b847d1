"""`streamproc bench chaos`: run the chosen scenarios one after another, each on a fresh
run, and print one row per scenario."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamproc.errors import ConfigError
from streamproc.evaluation.chaos.harness import Run
from streamproc.evaluation.chaos.inputs import tiny_artifact, write_cameras
from streamproc.evaluation.chaos.oracle import Result
from streamproc.evaluation.chaos.scenarios import FULL_ONLY, SCENARIOS, Options
from streamproc.evaluation.services import services_env
from streamproc.model.artifact import load_artifact


def run_chaos(
    work: Path,
    artifact: Path | None = None,
    scenarios: list[str] | None = None,
    short: bool = True,
    cameras: int = 4,
    frames: int = 120,
    log: Callable[[str], None] = print,
    overload_s: float | None = None,
) -> list[Result]:
    """``overload_s``: how long the overload scenario runs (default 60 s with ``short``,
    else 600 s)."""
    names = scenarios or default_scenarios(short)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ConfigError(f"unknown scenario(s) {unknown}; valid: {', '.join(SCENARIOS)}")
    services_env("the chaos suite")
    work.mkdir(parents=True, exist_ok=True)
    artifact = artifact or tiny_artifact(work, log)
    art = load_artifact(artifact)
    clips = write_cameras(work / "clips", cameras, frames)
    opt = Options(
        repeats=1 if short else 3,
        fuzz_decode=10_000,
        fuzz_kafka=300 if short else 1_000,
        overload_s=overload_s or (60.0 if short else 600.0),
    )
    results = []
    for name in names:
        t0 = time.monotonic()
        run = Run(name, work, artifact, art, clips, log)
        try:
            res = SCENARIOS[name](run, opt)
        except Exception as err:  # one broken scenario must not hide the others' rows
            res = Result(name, notes=[f"FAIL {type(err).__name__}: {err}"])
        finally:
            run.close()
        log(
            f"{name}: {'pass' if res.passed else 'FAIL'} in {time.monotonic() - t0:.0f} s "
            f"({'; '.join(res.notes)}) logs: {run.dir}"
        )
        results.append(res)
    return results


def default_scenarios(short: bool) -> list[str]:
    """Every scenario, but those of minutes (``FULL_ONLY``) only in the full run."""
    return [n for n in SCENARIOS if not (short and n in FULL_ONLY)]


def table(results: list[Result], short: bool) -> str:
    head = (
        "| scenario | windows sent | frames scored | windows lost | dup score msgs "
        "| dup alert msgs | dup alert ids | alerts = reference | dead-lettered (reason) "
        "| recover s | latency p50/max s (fault) | peak backlog (windows) | drops counted "
        "| peak worker RSS MiB | result |"
    )
    lines = [
        f"chaos suite ({'--short' if short else 'full'}), "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{platform.machine()}",
        "",
        head,
        "|" + "---|" * head.count(" | ") + "---|",
    ]
    for r in results:
        dead = ", ".join(f"{n} {k}" for k, n in sorted(r.dead_lettered.items())) or "0"
        if r.bad_expected:
            dead += f" (of {r.bad_expected} injected, {r.bad_missed} missed)"
        rec = f"{r.recover_s:.1f}" if r.recover_s is not None else "-"
        lat = "-"
        if r.latency_p50_s is not None and r.latency_max_s is not None:
            lat = f"{r.latency_p50_s:.1f}/{r.latency_max_s:.1f}"
        backlog = "-" if r.backlog_peak is None else str(r.backlog_peak)
        drops = "-" if r.drops_counted is None else str(r.drops_counted)
        lines.append(
            f"| {r.scenario} | {r.windows_sent} | {r.frames_scored}/{r.frames} "
            f"| {r.windows_lost} | {r.duplicate_scores} | {r.duplicate_alert_messages} "
            f"| {r.duplicate_alert_ids} | {'yes' if r.alerts_match else 'NO'} ({r.alerts}) "
            f"| {dead} | {rec} | {lat} | {backlog} | {drops} | {r.peak_rss_mib:.0f} "
            f"| {'pass' if r.passed else 'FAIL'} |"
        )
    return "\n".join(lines)


def report(results: list[Result]) -> list[dict[str, Any]]:
    return [r.as_dict() for r in results]
