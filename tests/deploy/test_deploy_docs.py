"""docs/deploy.md matches the chart: every value it sets exists in values.yaml, every
template it renders exists, every object it names is one the chart creates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "streamproc"
GUIDE = (ROOT / "docs" / "deploy.md").read_text()
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())


def has_key(values: Any, path: list[str]) -> bool:
    """True if `path` names a value; below an empty map (free-form, e.g. labels: {}) or
    inside `config` (any streamproc config key) anything goes."""
    node = values
    for i, key in enumerate(path):
        if i == 1 and path[0] == "config":
            return True
        if not isinstance(node, dict):
            return False
        if not node:
            return True
        if key not in node:
            return False
        node = node[key]
    return True


def leaf_paths(tree: Any, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    if isinstance(tree, dict) and tree:
        return [p for k, v in tree.items() for p in leaf_paths(v, (*prefix, str(k)))]
    return [list(prefix)]


def chart_lines() -> list[str]:
    """Lines of the guide (shell continuations joined), less those of other charts."""
    joined = re.sub(r"\\\n\s*", " ", GUIDE)
    others = ("bitnamicharts/", "kuberay/kuberay-operator")
    return [line for line in joined.splitlines() if not any(o in line for o in others)]


SET_KEYS = sorted({k for c in chart_lines() for k in re.findall(r"--set '?([\w.]+)=", c)})


@pytest.mark.parametrize("key", SET_KEYS)
def test_set_flags_name_existing_values(key: str) -> None:
    assert has_key(VALUES, key.split(".")), f"docs/deploy.md sets {key}, not in values.yaml"


def values_blocks() -> list[dict[str, Any]]:
    """The ```yaml blocks of the guide that are chart values (not Kubernetes objects)."""
    blocks = re.findall(r"```yaml\n(.*?)```", GUIDE, flags=re.S)
    docs = [d for b in blocks for d in yaml.safe_load_all(b)]
    return [d for d in docs if isinstance(d, dict) and "apiVersion" not in d]


@pytest.mark.parametrize("block", values_blocks(), ids=lambda b: ",".join(b))
def test_values_examples_use_existing_keys(block: dict[str, Any]) -> None:
    for path in leaf_paths(block):
        assert has_key(VALUES, path), f"docs/deploy.md example uses {'.'.join(path)}"


def test_rendered_templates_exist() -> None:
    shown = re.findall(r"--show-only (templates/[\w.-]+)", GUIDE)
    assert shown
    for t in shown:
        assert (CHART / t).is_file(), t


def test_named_objects_are_the_charts() -> None:
    base = [yaml.safe_load(p.read_text()) for p in (ROOT / "k8s" / "base").glob("*-*.yaml")]
    names = {(d["kind"], d["metadata"]["name"]) for d in base}
    short = {"deploy": "Deployment", "sts": "StatefulSet", "svc": "Service"}
    named = re.findall(r"(?<![\w/])(deploy|sts|svc)/([a-z0-9-]+)", GUIDE)
    ours = [(kind, name) for kind, name in named if not name.endswith("-head-svc")]
    # The guide names objects of each kind (else the loop below checks nothing); the
    # head service is created by KubeRay for the RayService, not by the manifests.
    assert {kind for kind, _ in ours} == set(short), named
    for kind, name in ours:
        assert (short[kind], name) in names, f"{kind}/{name}"
    services = re.findall(r"get rayservice ([a-z0-9-]+)", GUIDE)
    assert services
    for name in services:
        assert ("RayService", name) in names
    helpers = (CHART / "templates" / "_helpers.tpl").read_text()
    assert 'ray://{{ include "streamproc.fullname" . }}-head-svc:10001' in helpers
