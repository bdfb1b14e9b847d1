"""The window contract checked before scoring, and which errors count as transient."""

from __future__ import annotations

import numpy as np
import pytest

from streamproc.errors import ConfigError, DataError
from streamproc.runtime.contract import ContractError, check_window
from streamproc.runtime.failures import is_transient
from streamproc.threshold.errors import CorruptStateError, StateUnavailableError
from streamproc.transport.wire import WireWindow

NOW = 1_700_000_000.0


def window(frames: int = 4, stamps: tuple[float, ...] | None = None) -> WireWindow:
    pixels = np.zeros((frames, 8, 8), np.uint8)
    return WireWindow("cam", 0, pixels, stamps or tuple(NOW + k for k in range(frames)))


@pytest.mark.parametrize(
    ("w", "length"),
    [
        (window(), 4),
        (window(7), None),  # no length known: any
        (window(stamps=(NOW, NOW, NOW, NOW)), 4),  # repeated stamps are not backwards
        (window(stamps=(NOW, NOW, NOW, NOW + 86_400)), 4),  # a day ahead: drift, not broken
        (WireWindow("cam", 0, np.zeros((4, 8, 8, 3), np.uint8), (NOW,) * 4), 4),  # BGR
        (
            WireWindow(
                "cam", 0, np.zeros((4, 8, 8), np.uint8), (NOW,) * 4, np.zeros((8, 8), np.uint8)
            ),
            4,
        ),
    ],
    ids=["length", "any-length", "equal-stamps", "a-day-ahead", "bgr", "context"],
)
def test_good_windows_pass_up_to_each_limit(w: WireWindow, length: int | None) -> None:
    """Each window sits on the accepting side of one check's limit; a check drawn too
    tight refuses it (the violations below sit just across)."""
    try:
        check_window(w, length, NOW)
    except ContractError as err:
        pytest.fail(f"a window the model and the state can take was refused: {err}")


@pytest.mark.parametrize(
    ("w", "message"),
    [
        (window(5), "5 frames, the model takes 4"),
        (window(stamps=(NOW, NOW + 2, NOW + 1, NOW + 3)), "backwards"),
        (window(stamps=(NOW, NOW, NOW, NOW + 2 * 86_400)), "more than a day ahead"),
        (window(stamps=(NOW, NOW, NOW, float("nan"))), "finite"),
        (WireWindow("cam", 0, np.zeros((4, 8, 8), np.float32), (NOW,) * 4), "uint8"),
        (WireWindow("cam", 0, np.zeros((4, 8, 8, 4), np.uint8), (NOW,) * 4), "uint8"),
    ],
)
def test_violations_say_what_is_wrong(w: WireWindow, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        check_window(w, 4, NOW)


@pytest.mark.parametrize(
    ("err", "transient"),
    [
        (ConnectionError("refused"), True),
        (TimeoutError("slow"), True),
        (StateUnavailableError("redis down"), True),
        (RuntimeError("unknown"), True),
        (CorruptStateError("bad row"), False),
        (ConfigError("kind changed"), False),
        (DataError("nan"), False),
        (ValueError("stack"), False),
        (TypeError("None"), False),
    ],
)
def test_errors_are_classified_by_type(err: Exception, transient: bool) -> None:
    assert is_transient(err) is transient
