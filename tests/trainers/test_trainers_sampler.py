"""The evolutionary sampler survives the pickling that Tune does to its searcher."""

from __future__ import annotations

import pickle
import threading

import optuna
from ray.tune.search.optuna import OptunaSearch

from trainers.sampler import NSGAIISampler


def _suggestions(sampler: optuna.samplers.BaseSampler, n: int) -> list[float]:
    study = optuna.create_study(sampler=sampler, direction="maximize")
    out = []
    for _ in range(n):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        study.tell(trial, -((x - 0.3) ** 2))
        out.append(x)
    return out


def test_the_sampler_pickles_and_keeps_working_after_a_round_trip() -> None:
    sampler = NSGAIISampler(population_size=2, seed=0)
    restored = pickle.loads(pickle.dumps(sampler))
    assert isinstance(restored, NSGAIISampler)
    # The restored sampler has working locks of the same kinds, and samples as the
    # original does for the same seed.
    for name, value in vars(sampler).items():
        if isinstance(value, type(threading.Lock()) | type(threading.RLock())):
            assert type(vars(restored)[name]) is type(value)
    assert _suggestions(restored, 6) == _suggestions(NSGAIISampler(population_size=2, seed=0), 6)


def test_tunes_searcher_with_the_sampler_pickles() -> None:
    """What the Tuner does at construction (and each experiment checkpoint)."""
    searcher = OptunaSearch(
        space={"x": optuna.distributions.FloatDistribution(0.0, 1.0)},
        sampler=NSGAIISampler(population_size=2, seed=0),
        metric="objective",
        mode="max",
    )
    assert searcher.suggest("t1") is not None
    restored = pickle.loads(pickle.dumps(searcher))
    assert restored.suggest("t2") is not None
