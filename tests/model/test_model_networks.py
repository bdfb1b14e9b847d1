import pytest
import torch

from streamproc.errors import ConfigError
from streamproc.model.base import window_loss
from streamproc.model.registry import MODELS, build_model
from tests.helpers import tiny_config


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_reconstruct_window_shape(name: str) -> None:
    cfg = tiny_config(model__name=name)
    model = build_model(cfg.model, cfg.data)
    x = torch.rand(3, 2, 4, 32, 48)
    out = model(x)
    assert out.recon.shape == x.shape
    assert out.latent.shape[:2] == (3, 4)  # one code per frame
    assert float(out.recon.detach().min()) >= 0 and float(out.recon.detach().max()) <= 1


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_few_steps_reduce_the_loss(name: str) -> None:
    torch.manual_seed(0)
    cfg = tiny_config(model__name=name)
    model = build_model(cfg.model, cfg.data)
    x = torch.rand(4, 2, 4, 32, 48) * 0.2 + 0.4
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(25):
        loss, _ = window_loss(x, model(x), cfg.training.loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_attention_options_and_kl_term() -> None:
    cfg = tiny_config(
        model__variational=True, model__multiscale_temporal=True, training__loss__kl_weight=0.1
    )
    model = build_model(cfg.model, cfg.data)
    out = model(torch.rand(2, 2, 4, 32, 48))
    assert out.mu is not None and out.logvar is not None
    x = torch.rand(2, 2, 4, 32, 48)
    _, parts = window_loss(x, out, cfg.training.loss)
    # The KL of the encoder's diagonal Gaussian from N(0, I) per latent element, as
    # torch.distributions computes it (not the formula the model uses), ...
    q = torch.distributions.Normal(out.mu, torch.exp(0.5 * out.logvar))
    p = torch.distributions.Normal(torch.zeros_like(out.mu), torch.ones_like(out.mu))
    want = float(torch.distributions.kl_divergence(q, p).mean())
    assert parts["kl"] == pytest.approx(want, rel=1e-4, abs=1e-7)
    # ... weighted into the loss beside the other terms.
    loss = cfg.training.loss
    total = parts["mse"] + loss.temporal_weight * parts["temporal"] + loss.kl_weight * want
    assert parts["loss"] == pytest.approx(total, rel=1e-4)


def test_odd_sizes_still_reconstruct() -> None:
    cfg = tiny_config(data__preprocess__height=30, data__preprocess__width=45)
    for name in MODELS:
        cfg = tiny_config(data__preprocess__height=30, data__preprocess__width=45, model__name=name)
        assert build_model(cfg.model, cfg.data)(torch.rand(1, 2, 4, 30, 45)).recon.shape[-2:] == (
            30,
            45,
        )


def test_unknown_model_lists_valid_ones() -> None:
    cfg = tiny_config(model__name="nope")
    with pytest.raises(ConfigError, match="valid models: attention-ae, conv3d-ae, convlstm-ae"):
        build_model(cfg.model, cfg.data)


def test_predict_motion_hides_the_motion_channel_from_the_encoder() -> None:
    cfg = tiny_config(model__predict_motion=True)
    model = build_model(cfg.model, cfg.data).eval()
    x = torch.rand(2, 2, 4, 32, 48)
    other = x.clone()
    other[:, 1] = torch.rand(2, 4, 32, 48)  # same appearance, different motion
    with torch.no_grad():
        a, b = model(x).recon, model(other).recon
    assert torch.equal(a, b)  # the prediction depends on appearance only
    assert a.shape == x.shape  # and still covers the motion channel, which the loss trains
    plain = build_model(tiny_config(model__predict_motion=False).model, cfg.data).eval()
    with torch.no_grad():
        assert not torch.equal(plain(x).recon, plain(other).recon)


def test_the_reconstructors_keep_their_seeds_scoring() -> None:
    from streamproc.cli.common import resolve_config

    for name in ("conv3d-ae", "convlstm-ae"):
        cfg = resolve_config(None, name)
        assert cfg.data.preprocess.motion == "diff" and cfg.scoring.channels == "all"
        assert cfg.scoring.residual == "squared"
    cfg = resolve_config(None, "attention-ae")
    assert cfg.model.predict_motion and cfg.data.preprocess.motion == "flow"
    assert cfg.scoring.channels == "motion" and cfg.scoring.residual == "relative"
    assert cfg.model.predict_frames is None and cfg.data.window.stride == 4  # predicts 4


def test_predicted_frames_are_hidden_from_the_encoder() -> None:
    cfg = tiny_config()  # window of 4, the last 2 predicted
    model = build_model(cfg.model, cfg.data).eval()
    x = torch.rand(2, cfg.data.preprocess.channels, 4, 32, 48)
    later = x.clone()
    later[:, :, 2:] = torch.rand(2, cfg.data.preprocess.channels, 2, 32, 48)
    with torch.no_grad():
        a, b = model(x).recon, model(later).recon
    assert torch.equal(a, b)  # what it writes for frames 2-3 is a prediction from 0-1
