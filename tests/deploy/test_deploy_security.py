"""What the chart renders for issue 13's hardening: the Ray auth token (KubeRay
authOptions, the workers' env, the chart-made Secret), the workers' HTTP data plane,
and the NetworkPolicies around Ray, Kafka and Redis. Uses the helm binary the offline
checks cache (scripts/install_k8s_tools.sh); skipped without it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "streamproc"
TOOLS = Path(os.environ.get("STREAMPROC_TOOLS", Path.home() / ".cache/streamproc/tools"))
HELM = TOOLS / "bin" / "helm"

pytestmark = pytest.mark.skipif(not HELM.exists(), reason=f"no helm in {TOOLS}/bin")


def render(*values: str, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    args = [str(HELM), "template", "streamproc", str(CHART), "--kube-version", "1.30.0"]
    for v in values:
        args += ["-f", str(CHART / "ci" / v)]
    for s in sets:
        args += ["--set", s]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def worker_env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    c = one(docs, "Deployment", "streamproc-worker")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in c.get("env", [])}


def config(docs: list[dict[str, Any]]) -> dict[str, Any]:
    cm = one(docs, "ConfigMap", "streamproc-config")
    return yaml.safe_load(cm["data"]["config.yaml"])


def test_defaults_turn_auth_on_and_score_over_http() -> None:
    docs = render()
    ray = one(docs, "RayService", "streamproc")["spec"]["rayClusterConfig"]
    assert ray["authOptions"] == {"mode": "token", "secretName": "streamproc-ray-auth"}
    ref = worker_env(docs)["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "streamproc-ray-auth", "key": "auth_token"}
    assert not [d for d in docs if d["kind"] == "Secret"]  # the token is not in values
    serving = config(docs)["serving"]
    assert serving["mode"] == "http" and "ray_address" not in serving
    assert serving["url"] == "http://streamproc-serve-svc:8000/streamproc"
    serve = yaml.safe_load(one(docs, "RayService", "streamproc")["spec"]["serveConfigV2"])
    assert serve["applications"][0]["route_prefix"] == "/streamproc"
    policy = one(docs, "NetworkPolicy", "streamproc-ray")["spec"]
    peers = [p for rule in policy["ingress"] for p in rule["from"]]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "streamproc",
            "app.kubernetes.io/instance": "streamproc"}}} in peers  # fmt: skip


def test_full_values_render_every_policy_and_the_secret() -> None:
    docs = render("full-values.yaml")
    secret = one(docs, "Secret", "streamproc-ray-auth")
    assert secret["stringData"] == {"auth_token": "ci-not-a-secret"}
    kafka = one(docs, "NetworkPolicy", "streamproc-kafka-clients")
    assert kafka["metadata"]["namespace"] == "kafka"
    assert kafka["spec"]["podSelector"]["matchLabels"]["strimzi.io/cluster"] == "my-cluster"
    client = kafka["spec"]["ingress"][0]
    assert client["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == (
        "streamproc"
    )
    assert {p["port"] for p in client["ports"]} == {9092, 9093}
    redis = one(docs, "NetworkPolicy", "streamproc-redis-clients")
    assert redis["metadata"]["namespace"] == "redis"
    assert [p["port"] for p in redis["spec"]["ingress"][0]["ports"]] == [6379]
    for job in [d for d in docs if d["kind"] == "RayJob"]:
        assert job["spec"]["rayClusterSpec"]["authOptions"]["mode"] == "token"
        assert job["spec"]["submissionMode"] == "HTTPMode"  # no submitter pod to let in


def test_ray_client_plane_and_existing_secret() -> None:
    docs = render("objectstore-values.yaml")
    serving = config(docs)["serving"]
    assert serving["mode"] == "serve"
    assert serving["ray_address"] == "ray://streamproc-head-svc:10001"
    ref = worker_env(docs)["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == "ray-token"
    off = render(sets=("rayAuth.enabled=false", "networkPolicy.ray.enabled=false"))
    assert "authOptions" not in one(off, "RayService", "streamproc")["spec"]["rayClusterConfig"]
    assert "RAY_AUTH_TOKEN" not in worker_env(off)
    assert not [d for d in off if d["kind"] == "NetworkPolicy"]
