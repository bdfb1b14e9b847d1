"""The evolutionary search's sampler, made picklable.

Tune pickles its searcher: with the Tuner's own state when the Tuner is built, and with
every experiment checkpoint. Optuna 5 guards ``NSGAIISampler`` with a thread lock, and a
lock does not pickle ("cannot pickle '_thread.lock' object"), which broke
``streamproc tune --search evolutionary`` on a fresh install. Locks guard only the live
object, so they are left out of its pickled state and made anew when it is restored.
"""

from __future__ import annotations

import threading
from typing import Any

import optuna

_LOCK = type(threading.Lock())
_RLOCK = type(threading.RLock())
_KEY = "_streamproc_locks"  # attribute name -> "lock" | "rlock", in the pickled state


class NSGAIISampler(optuna.samplers.NSGAIISampler):
    """Optuna's NSGA-II genetic sampler, picklable whatever locks its version holds."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        locks = {}
        for name, value in self.__dict__.items():
            if isinstance(value, _LOCK | _RLOCK):
                locks[name] = "rlock" if isinstance(value, _RLOCK) else "lock"
                del state[name]
        state[_KEY] = locks
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        for name, kind in state.pop(_KEY, {}).items():
            state[name] = threading.RLock() if kind == "rlock" else threading.Lock()
        self.__dict__.update(state)
