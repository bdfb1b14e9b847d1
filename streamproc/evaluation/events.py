"""Event-level metrics: ground-truth anomalous intervals against alert incidents.

An interval is a maximal run of anomalous frames of one clip; an incident is one alert
event (``start`` .. ``end``) of the camera that played the clip. An interval is found
when an incident overlaps it; its delay runs from the interval's first frame to the
first frame an incident covers inside it (0 when an incident was already open). An
incident that overlaps no interval is a false alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

OPEN = 10**12  # end of an incident still open when its clip ends
# An incident that starts this soon after its camera's start (each clip is one) is what a
# start transient would open; the bench counts them apart (issue 22).
START_S = 2.0


@dataclass(frozen=True)
class Incident:
    clip: str
    start: int  # first anomalous frame (start_seq)
    end: int  # last active frame (end_seq), OPEN if it never ended


def intervals(labels: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive [start, end] runs of 1s."""
    edges = np.flatnonzero(np.diff(np.r_[0, np.asarray(labels).astype(int), 0]))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def incidents(alerts: Iterable[Mapping[str, Any]], clip_of: Mapping[str, str]) -> list[Incident]:
    """One incident per event id from alert messages (duplicates by (id, kind, seq) are
    dropped); ``clip_of`` maps a camera id to its clip."""
    unique = {(a["event_id"], a["kind"], a["seq"]): a for a in alerts}
    ends = {a["event_id"]: int(a["end_seq"]) for a in unique.values() if a["kind"] == "end"}
    out: dict[str, Incident] = {}
    for a in sorted(unique.values(), key=lambda a: a["seq"]):
        if a["kind"] == "start" and a["event_id"] not in out:
            end = ends.get(a["event_id"], OPEN)
            out[a["event_id"]] = Incident(clip_of[a["camera"]], int(a["start_seq"]), end)
    return list(out.values())


def event_report(
    found: list[Incident], labels: Mapping[str, np.ndarray], fps: float
) -> dict[str, float | int | None]:
    """Event recall, false alerts (count and per hour of normal footage), the median
    delay from an interval's start to its alert, in seconds, and the incidents opened
    within ``START_S`` of a clip's start (each clip is a camera start), and how many of
    those overlap no anomaly."""
    by_clip: dict[str, list[Incident]] = {}
    for inc in found:
        by_clip.setdefault(inc.clip, []).append(inc)
    delays: list[float] = []
    total = hit = 0
    for clip, lab in labels.items():
        for lo, hi in intervals(lab):
            total += 1
            covered = [
                max(lo, i.start) for i in by_clip.get(clip, []) if i.start <= hi and lo <= i.end
            ]
            if covered:
                hit += 1
                delays.append((min(covered) - lo) / fps)
    false = sum(
        not any(i.start <= hi and lo <= i.end for lo, hi in intervals(labels[i.clip]))
        for i in found
    )
    normal_hours = sum(int((np.asarray(v) == 0).sum()) for v in labels.values()) / fps / 3600
    at_start = [i for i in found if i.start < START_S * fps]
    return {
        "incidents_at_start": len(at_start),
        "false_incidents_at_start": sum(
            not any(i.start <= hi and lo <= i.end for lo, hi in intervals(labels[i.clip]))
            for i in at_start
        ),
        "gt_events": total,
        "alert_events": len(found),
        "event_recall": hit / total if total else None,
        "false_alerts": false,
        "false_alerts_per_hour": false / normal_hours if normal_hours > 0 else None,
        "median_delay_s": float(np.median(delays)) if delays else None,
    }
