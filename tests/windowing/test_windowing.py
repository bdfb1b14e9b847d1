import numpy as np
import pytest

from streamproc.config.data import PreprocessConfig
from streamproc.errors import DataError
from streamproc.windowing import FramePreprocessor, Windower, first_cover, window_starts


def test_window_starts_cover_the_tail() -> None:
    assert window_starts(10, 4, 2) == [0, 2, 4, 6]
    assert window_starts(11, 4, 3) == [0, 3, 6, 7]
    assert window_starts(3, 4, 2) == []


def test_first_cover_looks_ahead_at_most_stride_minus_one() -> None:
    starts = window_starts(20, 8, 4)
    owner = first_cover(20, starts, 8)
    ends = np.asarray(starts)[owner] + 8 - 1
    lookahead = ends - np.arange(20)
    assert owner.min() == 0 and (owner >= 0).all()
    assert lookahead[8:].max() <= 3  # after the first window: stride - 1


def test_preprocess_shapes_and_motion() -> None:
    pre = FramePreprocessor(PreprocessConfig(height=16, width=24, motion="diff", motion_gain=1.0))
    a = np.zeros((32, 48, 3), np.uint8)
    b = a.copy()
    b[:16] = 255
    first, second = pre(a), pre(b)
    assert first.shape == (2, 16, 24) and first[1].max() == 0  # no previous frame yet
    assert second[1][:8].min() == pytest.approx(1.0) and second[1][8:].max() == 0
    rgb = FramePreprocessor(PreprocessConfig(height=16, width=24, color="rgb", motion="none"))
    assert rgb(a).shape == (3, 16, 24)


def test_flow_motion_channel_sees_a_moving_square() -> None:
    pre = FramePreprocessor(PreprocessConfig(height=48, width=64, motion="flow"))
    f0 = np.zeros((48, 64), np.uint8)
    f0[20:30, 10:20] = 255
    f1 = np.roll(f0, 3, axis=1)
    pre(f0)
    m = pre(f1)[1]
    assert m[20:30, 10:24].max() > 0.1 and m[:, 40:].max() < 0.05


def test_preprocess_rejects_bad_frames() -> None:
    pre = FramePreprocessor(PreprocessConfig())
    with pytest.raises(DataError, match="expected a uint8 frame"):
        pre(np.zeros((4, 4), np.float32))


def test_live_windower_matches_offline_starts() -> None:
    w = Windower("cam", length=4, stride=3)
    seqs = []
    for i in range(13):
        out = w.push(np.full((1, 2, 2), i, np.float32), float(i))
        if out is not None:
            seqs.append(out.seq)
            assert out.frames[:, 0, 0, 0].tolist() == list(range(out.seq, out.seq + 4))
    assert seqs == [0, 3, 6, 9]


def test_live_windows_carry_the_frame_before_as_context() -> None:
    w = Windower("cam", length=3, stride=2)
    outs = [w.push(np.full((1,), i, np.float32), float(i)) for i in range(7)]
    wins = [o for o in outs if o is not None]
    assert wins[0].context is None and wins[0].seq == 0
    assert wins[1].seq == 2 and wins[1].context is not None and float(wins[1].context[0]) == 1.0


def test_flush_emits_an_end_aligned_tail_like_offline() -> None:
    w = Windower("cam", length=4, stride=3)
    seqs = [o.seq for i in range(11) if (o := w.push(np.zeros(1, np.float32), float(i)))]
    tail = w.flush()
    assert tail is not None
    assert [*seqs, tail.seq] == window_starts(11, 4, 3)  # [0, 3, 6, 7]
    assert w.flush() is None  # nothing new since


def _windows(w: Windower, frames: range) -> list[tuple[int, list[float], float | None]]:
    """(seq, frame values, context value) of every window pushed and flushed."""
    out = [w.push(np.full((1,), i, np.float32), float(i)) for i in frames]
    out.append(w.flush())
    return [
        (o.seq, o.frames[:, 0].tolist(), None if o.context is None else float(o.context[0]))
        for o in out
        if o is not None
    ]


@pytest.mark.parametrize("length,stride", [(8, 4), (4, 3), (3, 5), (8, 1), (1, 1), (5, 5)])
def test_resumed_windower_continues_exactly_as_an_unbroken_one(length: int, stride: int) -> None:
    n = 41
    whole = _windows(Windower("cam", length, stride), range(n))
    for k, (seq, _, _) in enumerate(whole[:-1]):
        last_end = seq + length - 1
        w = Windower("cam", length, stride)
        start = w.resume_seq(last_end)
        w.resume(start, last_end)
        assert w.next_seq == start
        assert _windows(w, range(start, n)) == whole[k + 1 :], (k, start)


def test_resume_refuses_a_point_after_the_last_windows_context() -> None:
    w = Windower("cam", length=8, stride=4)
    assert w.resume_seq(7) == 0  # a tail window ending at 8 would need frames 0-8
    assert w.resume_seq(11) == 3  # the context frame of the window ending at 11
    with pytest.raises(ValueError, match="needs frames from 3 on"):
        w.resume(4, 11)
    with pytest.raises(ValueError):
        w.resume(-1, 7)
