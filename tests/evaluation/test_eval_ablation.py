from pathlib import Path

from streamproc.evaluation.ablation import ablation_table, scoring_ablation


def test_scoring_ablation_rows(synthetic_dataset: Path, tiny_artifact: Path) -> None:
    rows = scoring_ablation(synthetic_dataset, tiny_artifact)
    names = {r["variant"] for r in rows}
    assert "model all squared p12" in names and "model motion excess p20" in names
    assert "model motion relative p20" in names
    # Variants that need normal statistics take them from the calibration clips.
    assert "fused max-z: appearance + motion relative p20" in names
    assert "model motion excess per-location z p20" in names
    assert "baseline optical-flow speed p16" in names
    assert all(0.0 <= r["stream_micro"] <= 1.0 for r in rows)
    # The synthetic anomaly is a big dark square moving fast: frame differences see it.
    best = max(r["stream_micro"] for r in rows if r["variant"].startswith("baseline frame"))
    assert best > 0.8
    assert ablation_table(rows, "a", "v").count("\n") == len(rows) + 4
