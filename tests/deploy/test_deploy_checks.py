"""The offline Kubernetes checks (scripts/k8s_checks.sh) pass on the chart and fail on
copies of it broken on purpose: a wrongly typed field, an unknown RayService field, a
broken template, a Serve config that drifted from the project's, and k8s/ out of date.

The first run on a machine builds helm and kubeconform from the Go module proxy (a few
minutes on 2 cores); later runs use the cache in ~/.cache/streamproc/tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "streamproc"
TOOLS = Path(os.environ.get("STREAMPROC_TOOLS", Path.home() / ".cache/streamproc/tools"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(2400),  # the first run builds helm and kubeconform
    pytest.mark.skipif(
        shutil.which("go") is None and not (TOOLS / "bin" / "helm").exists(),
        reason="needs go (to build helm and kubeconform) or tools cached in " + str(TOOLS),
    ),
]


def run_checks(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "k8s_checks.sh"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )


@pytest.fixture
def chart_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "streamproc"
    shutil.copytree(CHART, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_all_checks_pass_on_the_chart() -> None:
    r = run_checks()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "k8s-checks: 7 passed, 0 failed" in r.stdout
    assert "Invalid: 0, Errors: 0" in r.stdout


def test_a_wrongly_typed_field_fails_schema_validation(chart_copy: Path) -> None:
    edit(chart_copy / "values.yaml", "  replicas: 2\n", '  replicas: "two"\n')
    r = run_checks("--chart", chart_copy, "--steps", "schemas")
    assert r.returncode != 0
    assert "Deployment streamproc-worker is invalid" in r.stdout
    assert "/spec/replicas" in r.stdout
    assert "FAIL: schemas" in r.stdout


def test_an_unknown_rayservice_field_fails_crd_validation(chart_copy: Path) -> None:
    edit(
        chart_copy / "templates" / "rayservice.yaml",
        "  upgradeStrategy:\n",
        "  serveConfigV3: nonsense\n  upgradeStrategy:\n",
    )
    r = run_checks("--chart", chart_copy, "--steps", "schemas")
    assert r.returncode != 0
    assert "RayService streamproc is invalid" in r.stdout
    assert "serveConfigV3" in r.stdout


def test_a_broken_template_fails_lint_and_render(chart_copy: Path) -> None:
    edit(chart_copy / "templates" / "services.yaml", "{{- end }}", "")
    r = run_checks("--chart", chart_copy, "--steps", "lint")
    assert r.returncode != 0
    assert "FAIL: lint" in r.stdout
    assert "FAIL: render" in r.stdout


def test_a_serve_config_that_drifts_from_the_project_fails(chart_copy: Path) -> None:
    edit(
        chart_copy / "templates" / "_config.tpl",
        "max_ongoing_requests: {{ $s.max_ongoing_requests | toJson }}",
        "max_ongoing_requests: {{ $s.max_batch_size | toJson }}",
    )
    r = run_checks("--chart", chart_copy, "--steps", "serve")
    assert r.returncode != 0
    assert "serveConfigV2 differs" in r.stdout
    assert "FAIL: serve" in r.stdout


def test_k8s_manifests_out_of_date_with_the_chart_fail(chart_copy: Path) -> None:
    edit(chart_copy / "values.yaml", "  replicas: 2\n", "  replicas: 3\n")
    r = run_checks("--chart", chart_copy, "--steps", "manifests")
    assert r.returncode != 0
    assert "k8s/ differs from the chart's render" in r.stdout
