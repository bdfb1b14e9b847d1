import numpy as np
import pytest

from streamproc.evaluation.events import OPEN, Incident, event_report, incidents, intervals


def test_intervals_are_inclusive_runs_of_ones() -> None:
    assert intervals(np.array([0, 1, 1, 0, 1])) == [(1, 2), (4, 4)]
    assert intervals(np.array([0, 0])) == []


def test_incidents_from_alert_messages_drop_redelivered_copies() -> None:
    start = {"camera": "cam-a", "kind": "start", "start_seq": 3, "seq": 3, "event_id": "e1"}
    msgs = [
        start,
        start,  # redelivered
        {"camera": "cam-a", "kind": "update", "seq": 9, "event_id": "e1"},
        {"camera": "cam-a", "kind": "end", "seq": 30, "end_seq": 12, "event_id": "e1"},
        {"camera": "cam-b", "kind": "start", "start_seq": 5, "seq": 5, "event_id": "e2"},
    ]
    got = incidents(msgs, {"cam-a": "a", "cam-b": "b"})
    assert got == [Incident("a", 3, 12), Incident("b", 5, OPEN)]


def test_event_recall_false_alerts_and_delay() -> None:
    fps = 10.0
    labels = {
        "a": np.r_[np.zeros(100), np.ones(20), np.zeros(80), np.ones(10)].astype(int),
        "b": np.r_[np.zeros(3600), np.ones(30)].astype(int),
    }
    found = [
        Incident("a", 104, 125),  # 4 frames into the first interval
        Incident("a", 150, 160),  # overlaps nothing: a false alert
        Incident("b", 3590, OPEN),  # open before the interval began: delay 0
    ]
    r = event_report(found, labels, fps)
    assert r["gt_events"] == 3 and r["alert_events"] == 3
    assert r["event_recall"] == pytest.approx(2 / 3)  # a's second interval was missed
    assert r["false_alerts"] == 1
    normal_hours = (180 + 3600) / fps / 3600
    assert r["false_alerts_per_hour"] == pytest.approx(1 / normal_hours)
    assert r["median_delay_s"] == pytest.approx(0.2)  # median of 0.4 s and 0 s


def test_no_alerts_and_no_anomalies() -> None:
    r = event_report([], {"a": np.zeros(50, int)}, 10.0)
    assert r["event_recall"] is None and r["false_alerts"] == 0
    assert r["median_delay_s"] is None


def test_incidents_within_two_seconds_of_a_start_are_counted_apart() -> None:
    fps = 10.0
    labels = {"a": np.r_[np.ones(5), np.zeros(95)].astype(int), "b": np.zeros(100, int)}
    found = [
        Incident("a", 0, 10),  # at the start, on a real anomaly
        Incident("b", 19, 30),  # 1.9 s in, on normal footage: a start transient
        Incident("b", 20, 40),  # 2.0 s in: not at the start
    ]
    r = event_report(found, labels, fps)
    assert r["incidents_at_start"] == 2 and r["false_incidents_at_start"] == 1
