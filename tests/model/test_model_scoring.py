import numpy as np
import pytest
import torch

from streamproc.config.data import WindowConfig
from streamproc.config.scoring import ScoringConfig
from streamproc.model.base import AnomalyModel, ModelOutput
from streamproc.model.calibration import calibrate, score_stats
from streamproc.model.clip import score_clip
from streamproc.model.scoring import Calibration, WindowScorer, knn_distance, patch_max
from streamproc.windowing.windows import window_starts


class ConstantModel(AnomalyModel):
    """Reconstructs every window as flat grey; the error is the input's deviation."""

    def forward(self, x: torch.Tensor) -> ModelOutput:
        b, _, t = x.shape[:3]
        return ModelOutput(torch.full_like(x, 0.5), x.mean(dim=(1, 3, 4)).reshape(b, t, 1))


def test_patch_max_keeps_a_small_anomaly() -> None:
    maps = torch.zeros(1, 2, 48, 48)
    maps[0, 1, 10:16, 10:16] = 1.0  # a 6x6 blob in frame 1
    pm = patch_max(maps, 6)
    assert pm[0, 0] == 0 and pm[0, 1] > 0.5
    assert maps[0, 1].mean() < 0.02  # the frame mean would have hidden it


def test_knn_distance() -> None:
    bank = torch.tensor([[0.0, 0.0], [1.0, 0.0], [10.0, 0.0]])
    d = knn_distance(torch.tensor([[0.0, 0.0], [5.0, 0.0]]), bank, k=2)
    assert torch.allclose(d, torch.tensor([0.5, 4.5]))


def test_score_stats_threshold_rules() -> None:
    s = np.array([1.0, 2.0, 3.0, 4.0])
    assert score_stats(s, ScoringConfig(threshold_k=2))["threshold"] == np.mean(s) + 2 * np.std(s)
    q = score_stats(s, ScoringConfig(threshold_quantile=0.5))["threshold"]
    assert q == 2.5


def test_pixel_normalisation_suppresses_always_hard_pixels() -> None:
    # A static bright stripe is "always wrong" for the constant model; after calibration
    # its error is divided away and a new blob stands out instead.
    base = np.full((6, 1, 8, 24), 0.5, np.float32)  # (N, C, H, W)
    base[:, :, :, :4] = 1.0
    cal, stats = calibrate(
        ConstantModel(),
        [base],
        WindowConfig(length=2, stride=1),
        ScoringConfig(
            patch=4, normalize_pixels=True, fusion="none", channels="all", residual="squared"
        ),
    )
    assert cal.pixel_error is not None and cal.pixel_error[:, :4].mean() > 0.2
    test = base.copy()
    test[3:, :, 2:6, 12:16] = 0.9
    scorer = WindowScorer(
        ConstantModel(),
        ScoringConfig(
            patch=4, normalize_pixels=True, fusion="none", channels="all", residual="squared"
        ),
        cal,
    )
    frames = score_clip(scorer, test, WindowConfig(length=2, stride=1), 4).streaming()
    assert frames[4] > stats["threshold"] >= frames[1]
    raw = WindowScorer(
        ConstantModel(),
        ScoringConfig(
            patch=4, normalize_pixels=False, fusion="none", channels="all", residual="squared"
        ),
        cal,
    )
    raw_frames = score_clip(raw, test, WindowConfig(length=2, stride=1), 4).streaming()
    assert raw_frames[1] == raw_frames[4]  # without it the stripe dominates every frame


def test_all_scoring_methods_run() -> None:
    x = np.random.default_rng(0).random((2, 1, 3, 8, 8)).astype(np.float32)
    cal = Calibration(latent_bank=torch.zeros(5, 1), error_min=0.0, error_max=1.0)
    for method in ("patch-max", "mean", "regularity", "latent-knn"):
        out = WindowScorer(
            ConstantModel(), ScoringConfig(method=method, fusion="none", channels="all"), cal
        ).score(x, True, True)
        assert out.frame_scores.shape == (2, 3) and np.isfinite(out.frame_scores).all()
        assert out.error_maps is not None and out.error_maps.shape == (2, 3, 8, 8)
    assert window_starts(3, 3, 1) == [0]


def test_excess_residual_counts_only_input_above_the_reconstruction() -> None:
    from streamproc.model.scoring import error_maps

    recon = torch.full((1, 1, 2, 4, 4), 0.5)
    x = recon.clone()
    x[0, 0, 0, 0, 0] = 0.9  # more than expected (a fast object on a motion channel)
    x[0, 0, 1, 0, 0] = 0.1  # less than expected (someone stopped)
    ex = error_maps(x, recon, residual="excess")
    sq = error_maps(x, recon, residual="squared")
    assert torch.isclose(ex[0, 0, 0, 0], torch.tensor(0.4)) and ex[0, 1].max() == 0
    assert torch.isclose(sq[0, 1, 0, 0], torch.tensor(0.16))


def test_scoring_a_missing_motion_channel_is_an_error() -> None:
    x = np.random.default_rng(0).random((1, 1, 3, 8, 8)).astype(np.float32)
    scorer = WindowScorer(ConstantModel(), ScoringConfig(fusion="none", channels="motion"))
    with pytest.raises(ValueError, match="needs a motion channel"):
        scorer.score(x)


class GridModel(AnomalyModel):
    """Reconstructs flat grey; each frame's latent code is its 2 x 2 grid of means."""

    def forward(self, x: torch.Tensor) -> ModelOutput:
        b, c, t, h, w = x.shape
        frames = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        code = torch.nn.functional.adaptive_avg_pool2d(frames, (2, 2)).reshape(b, t, -1)
        return ModelOutput(torch.full_like(x, 0.5), code, latent_grid=(2, 2))


@pytest.mark.parametrize("method", ["patch-max", "mean", "regularity", "latent-knn"])
def test_a_region_of_interest_applies_to_every_method(method: str) -> None:
    rng = np.random.default_rng(0)
    clean = (0.5 + rng.normal(0, 0.01, (1, 1, 2, 16, 16))).astype(np.float32)
    blob = clean.copy()
    blob[0, 0, :, 0:6, 0:6] = 1.0  # something in the top-left quadrant
    mask = np.ones((1, 16, 16), np.float32)
    mask[0, :8, :8] = 0  # ... which the operator excluded
    bank = GridModel()(torch.from_numpy(clean)).latent[0]  # the clean frames are normal
    cal = Calibration(latent_bank=bank, error_min=0.0, error_max=1.0)
    cfg = ScoringConfig(method=method, fusion="none", channels="all", residual="squared", patch=4)
    scorer = WindowScorer(GridModel(), cfg, cal)
    plain = scorer.score(blob).frame_scores
    masked = scorer.score(blob, masks=mask).frame_scores
    reference = scorer.score(clean, masks=mask).frame_scores
    assert not np.allclose(plain, reference)  # unmasked, the blob changes the score
    np.testing.assert_allclose(masked, reference, atol=1e-6)  # masked, it does not


def test_fused_score_is_the_max_of_the_cue_z_scores() -> None:
    x = np.full((1, 2, 2, 16, 16), 0.5, np.float32)  # (B, C=appearance+motion, T, H, W)
    x[0, 1, 1, 4:8, 4:8] = 0.9  # fast motion in frame 1, appearance as reconstructed
    cal = Calibration(cue_stats={"appearance": (0.0, 0.01), "motion": (0.0, 0.1)})
    scorer = WindowScorer(ConstantModel(), ScoringConfig(patch=4, fusion="max-z"), cal)
    out = scorer.score(x, with_maps=True)
    assert set(out.cues) == {"appearance", "motion"}
    z_app = out.cues["appearance"] / 0.01
    z_mot = out.cues["motion"] / 0.1
    np.testing.assert_allclose(out.frame_scores, np.maximum(z_app, z_mot), rtol=1e-5)
    assert out.frame_scores[0, 1] > out.frame_scores[0, 0]  # the motion cue won frame 1
    assert out.error_maps is not None and out.error_maps[0, 1, 5, 5] > 0


def test_fusion_needs_an_error_map_method() -> None:
    with pytest.raises(ValueError, match="latent-knn pools no error map"):
        ScoringConfig(method="latent-knn", fusion="max-z")


def test_calibration_records_the_statistics_of_each_cue() -> None:
    rng = np.random.default_rng(0)
    frames = (0.5 + rng.normal(0, 0.05, (12, 2, 8, 8))).astype(np.float32)
    cal, stats = calibrate(
        ConstantModel(),
        [frames],
        WindowConfig(length=4, stride=2),
        ScoringConfig(patch=4, fusion="max-z"),
    )
    assert set(cal.cue_stats) == {"appearance", "motion"}
    assert all(sd > 0 for _, sd in cal.cue_stats.values())
    # Fused scores are z-scores: near 0 on normal footage, threshold a few std above.
    assert -1 < float(stats["mean"]) < 2 and float(stats["threshold"]) > float(stats["mean"])


def test_relative_residual_weighs_a_surplus_by_the_motion_expected() -> None:
    from streamproc.model.scoring import RELATIVE_FLOOR, error_maps

    recon = torch.zeros((1, 1, 1, 2, 1))
    recon[0, 0, 0, 0, 0] = 0.5  # fast motion is normal here (near the camera) ...
    x = recon + 0.2  # ... and the same surplus everywhere
    rel = error_maps(x, recon, residual="relative")[0, 0, :, 0]
    assert torch.allclose(rel, torch.tensor([0.2 / (0.5 + RELATIVE_FLOOR), 0.2 / RELATIVE_FLOOR]))
    slower = error_maps(recon - 0.1, recon, residual="relative")
    assert slower.max() == 0  # less motion than expected is not scored
