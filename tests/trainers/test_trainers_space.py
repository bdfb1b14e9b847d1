import pytest
from ray.tune.search.optuna import OptunaSearch

from streamproc.errors import ConfigError
from tests.helpers import tiny_config
from trainers.space import (
    SPACE,
    apply_sample,
    base_point,
    evolutionary_space,
    grid_dims,
    grid_space,
)


def test_grid_is_factorial_over_leading_dims() -> None:
    assert [d.key for d in grid_dims(2)] == ["training.learning_rate"]
    assert len(grid_dims(4)) == 2 and len(grid_dims(7)) == 2 and len(grid_dims(8)) == 3
    assert len(grid_dims(10_000)) == len(SPACE)
    space = grid_space(4)
    assert set(space) == {"training.learning_rate", "model.latent_channels"}
    assert all(
        v == {"grid_search": list(d.grid)} for d, v in zip(SPACE[:2], space.values(), strict=True)
    )
    with pytest.raises(ConfigError, match=">= 2"):
        grid_dims(1)


def test_every_grid_and_domain_value_gives_a_valid_config() -> None:
    cfg = tiny_config()
    for d in SPACE:
        for v in (*d.grid, *(d.choices or d.bounds or ())):
            out = apply_sample(cfg, {d.key: v})
            assert out.data.window.stride <= out.data.window.length


def test_evolutionary_space_converts_to_optuna() -> None:
    converted = OptunaSearch.convert_search_space(evolutionary_space())
    assert set(converted) == {d.key for d in SPACE}


def test_derived_keys() -> None:
    cfg = tiny_config()
    out = apply_sample(cfg, {"data.window.length": 16, "data.window.stride_ratio": 0.25})
    assert (out.data.window.length, out.data.window.stride) == (16, 4)
    assert apply_sample(cfg, {"training.loss.kl_weight": 1e-3}).model.variational
    assert not apply_sample(cfg, {"training.loss.kl_weight": 0.0}).model.variational
    # A shorter window than the base stride is clamped instead of failing validation.
    long_stride = tiny_config(data__window__length=8, data__window__stride=8)
    assert apply_sample(long_stride, {"data.window.length": 4}).data.window.stride == 4


def test_bad_samples_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="unknown search dimension"):
        apply_sample(tiny_config(), {"model.bogus": 1})
    with pytest.raises(ConfigError, match="does not divide"):
        apply_sample(tiny_config(model__base_channels=6), {"model.attention_heads": 8})


def test_base_point_is_inside_the_space() -> None:
    point = base_point(tiny_config())  # window 4/2, latent 4 (not a choice), heads 2
    assert point["data.window.length"] == 4 and point["data.window.stride_ratio"] == 0.5
    assert point["model.latent_channels"] == 8  # snapped to the nearest choice
    for d in SPACE:
        if d.choices is not None:
            assert point[d.key] in d.choices
        else:
            assert d.bounds is not None and d.bounds[0] <= point[d.key] <= d.bounds[1]
