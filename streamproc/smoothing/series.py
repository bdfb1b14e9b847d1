"""Whole-clip versions of the smoothing stage, for the offline evaluator.

``smooth_causal`` and ``decide_series`` loop over the same stateful logic the live
worker uses rather than re-implementing it with numpy, so an offline decision is
bit-for-bit the decision the stream would have made. ``smooth_centered`` is the offline
protocol's non-causal moving average (it looks ahead, so it has no live counterpart).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from streamproc.config.smoothing import SmoothingConfig
from streamproc.errors import ConfigError, DataError
from streamproc.smoothing.decision import Decider
from streamproc.smoothing.rolling import make_smoother


def _as_series(scores: npt.ArrayLike) -> npt.NDArray[np.float64]:
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim != 1:
        raise DataError(f"expected a 1-D array of frame scores, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise DataError(f"expected finite frame scores, got {array[bad]} at frame {bad}")
    return array


def smooth_causal(scores: npt.ArrayLike, cfg: SmoothingConfig) -> npt.NDArray[np.float64]:
    """The smoother ``cfg`` names run over ``scores`` in order; same length as ``scores``."""
    series = _as_series(scores)
    logic = make_smoother(cfg).build()
    return np.array([logic.update(x) for x in series.tolist()], dtype=np.float64)


def smooth_centered(scores: npt.ArrayLike, width: int) -> npt.NDArray[np.float64]:
    """Centred moving average of ``width`` frames, same length as ``scores``.

    Near the ends the window is cut to the frames that exist and the mean is taken over
    those, so edges are neither padded with invented values nor dropped. An even width
    reaches one frame further into the past than into the future.
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ConfigError(f"centred smoothing width must be an integer >= 1, got {width!r}")
    series = _as_series(scores)
    n = series.size
    if n == 0 or width == 1:
        return series.copy()
    idx = np.arange(n)
    lo = np.clip(idx - width // 2, 0, n)
    hi = np.clip(idx + (width - 1) // 2 + 1, 0, n)
    # Prefix sums give every window's sum in one vectorised step: sum = c[hi] - c[lo].
    cumulative = np.concatenate(([0.0], np.cumsum(series)))
    return (cumulative[hi] - cumulative[lo]) / (hi - lo)


def decide_series(
    scores: npt.ArrayLike, threshold: float, cfg: SmoothingConfig
) -> npt.NDArray[np.bool_]:
    """Per-frame ``Decision.active`` of a fresh ``Decider`` fed ``scores`` in order."""
    series = _as_series(scores)
    decider = Decider(threshold, cfg)
    return np.array([decider.update(x).active for x in series.tolist()], dtype=bool)
