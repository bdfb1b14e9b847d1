"""Segments: no window (nor its context frame) spans a break in capture."""

from __future__ import annotations

import numpy as np

from streamproc.windowing.windows import Windower


def push_all(w: Windower, seqs: range) -> list:
    out = []
    for s in seqs:
        win = w.push(np.full((2, 3), s, np.uint8), float(s))
        if win is not None:
            out.append(win)
    return out


def test_a_new_segment_sends_the_old_tail_and_starts_windows_afresh() -> None:
    w = Windower("cam", 4, 2)
    before = push_all(w, range(0, 9))  # windows at 0, 2, 4; frame 8 not yet in one
    assert [x.seq for x in before] == [0, 2, 4]
    tail = w.new_segment()
    assert tail is not None and tail.seq == 5 and tail.segment == 0  # end-aligned: 5..8
    after = push_all(w, range(9, 16))
    assert [x.seq for x in after] == [9, 11]  # counted from the segment's first frame
    first = after[0]
    assert first.segment == 1 and first.context is None  # motion starts from nothing
    assert after[1].context is not None and int(after[1].context[0, 0]) == 10
    for x in [*before, tail, *after]:  # every frame of a window is of the window's segment
        seqs = [int(f[0, 0]) for f in x.frames]
        assert all((s >= 9) == (x.segment == 1) for s in seqs)
        if x.context is not None:
            assert (int(x.context[0, 0]) >= 9) == (x.segment == 1)


def test_a_segment_shorter_than_a_window_gives_none_and_no_tail_twice() -> None:
    w = Windower("cam", 4, 2)
    push_all(w, range(0, 4))
    assert w.new_segment() is None  # the window 0..3 was just sent: nothing left over
    push_all(w, range(4, 6))  # two frames only
    assert w.new_segment() is None  # too short for a window: never scored
    after = push_all(w, range(6, 10))
    assert [(x.seq, x.segment, x.context is None) for x in after] == [(6, 2, True)]
