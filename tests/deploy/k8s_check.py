"""The Python half of ``scripts/k8s_checks.sh``: offline schemas, k8s/base, config checks.

    python tests/deploy/k8s_check.py schemas --out DIR --k8s-schemas DIR [--crds DIR] FILE...
    python tests/deploy/k8s_check.py split RENDER OUTDIR
    python tests/deploy/k8s_check.py config RENDER...
    python tests/deploy/k8s_check.py serve-config --streamproc BIN RENDER...

``schemas`` writes the JSON schemas kubeconform needs for the objects in FILEs:
core kinds from the strict schemas of the PyPI package kubernetes-validate (made
standalone: each kind's file gets the shared definitions inlined as ``$defs``), KubeRay
kinds from the CRDs' ``openAPIV3Schema`` (made strict the way the API server prunes:
unknown fields are errors unless ``x-kubernetes-preserve-unknown-fields``). It prints
the kinds no offline schema exists for, comma-separated, for ``kubeconform -skip``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]
DEFS_REF = "/api/_definitions.json#/$defs/"
# Kinds whose CRDs are not available offline; they are rendered but not schema-checked.
NO_OFFLINE_SCHEMA = {"ServiceMonitor", "PodMonitor", "ScaledObject", "TriggerAuthentication"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr)


def load_docs(path: Path) -> list[Obj]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


def split_group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


# ---- core kinds: kubernetes-validate's local-strict schemas, made standalone ------------


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (v.replace(DEFS_REF, "#/$defs/") if k == "$ref" else _rewrite_refs(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def core_schema(src_dir: Path, kind: str, group: str, version: str) -> Obj | None:
    """kubeconform's `<kind>-<group>-<version>.json`, standalone; None if unknown."""
    prefix = group.split(".")[0]
    name = f"{kind.lower()}-{prefix}-{version}.json" if group else f"{kind.lower()}-{version}.json"
    path = src_dir / name
    if not path.is_file():
        return None
    schema = _rewrite_refs(json.loads(path.read_text()))
    defs = json.loads((src_dir / "_definitions.json").read_text())["$defs"]
    schema.pop("$id", None)
    schema["$defs"] = defs
    return schema


# ---- KubeRay kinds: the CRD's openAPIV3Schema as a strict JSON schema -----------------


def strict_openapi(node: Any) -> Any:
    """OpenAPI v3 (Kubernetes structural schema) -> JSON schema with the API server's
    strictness: objects with `properties` reject unknown fields."""
    if isinstance(node, list):
        return [strict_openapi(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict_openapi(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    out.pop("nullable", None)
    if node.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in node and "additionalProperties" not in node and not preserve:
        out["additionalProperties"] = False
    return out


def crd_schemas(crd_dir: Path) -> dict[tuple[str, str, str], Obj]:
    """{(group, kind, version): schema} for every served version of every CRD file."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found: dict[tuple[str, str, str], Obj] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=loader)
        spec = crd["spec"]
        for v in spec["versions"]:
            if v.get("served", True):
                schema = strict_openapi(v["schema"]["openAPIV3Schema"])
                key = (spec["group"], spec["names"]["kind"], v["name"])
                found[key] = schema
    return found


def cmd_schemas(args: argparse.Namespace) -> int:
    out: Path = args.out
    core_dir = out / f"v{args.kube_version}-standalone-strict"
    core_dir.mkdir(parents=True, exist_ok=True)
    src = args.k8s_schemas / f"v{args.kube_version}-local-strict"
    crds: dict[tuple[str, str, str], Obj] | None = None
    if args.crds is not None and args.crds.is_dir():
        crds = crd_schemas(args.crds)
    kinds = {(d["apiVersion"], d["kind"]) for f in args.files for d in load_docs(f) if "kind" in d}
    skip: set[str] = set()
    for api_version, kind in sorted(kinds):
        group, version = split_group_version(api_version)
        if group == "ray.io":
            if crds is None:
                log(f"SKIP {kind}: KubeRay CRDs not found at {args.crds}; not schema-checked")
                skip.add(kind)
                continue
            schema = crds.get((group, kind, version))
            if schema is None:
                raise SystemExit(f"{api_version} {kind}: no such version in the KubeRay CRDs")
            target = out / group / f"{kind.lower()}_{version}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(schema))
        elif kind in NO_OFFLINE_SCHEMA:
            log(f"SKIP {kind} ({api_version}): no offline schema; checked by helm lint only")
            skip.add(kind)
        else:
            core = core_schema(src, kind, group, version)
            if core is None:
                raise SystemExit(f"{api_version} {kind}: not a Kubernetes {args.kube_version} kind")
            suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
            (core_dir / f"{kind.lower()}{suffix}.json").write_text(json.dumps(core))
    print(",".join(sorted(skip)))
    return 0


# ---- k8s/base: the default render, one file per object ---------------------------------


def split_render(text: str) -> Iterator[tuple[Obj, str]]:
    """(object, its text) for every non-empty document of `helm template` output."""
    for chunk in text.split("\n---\n"):
        body = "\n".join(
            line for line in chunk.strip("-\n").splitlines() if not line.startswith("# Source:")
        ).strip("\n")
        doc = yaml.safe_load(body) if body else None
        if isinstance(doc, dict):
            yield doc, body + "\n"


KUSTOMIZATION_HEAD = """\
# GENERATED by `bash scripts/k8s_checks.sh --update` from `helm template streamproc
# helm/streamproc` with the chart's default values; do not edit (the checks fail when
# it differs from the chart). Customise in ../overlays/.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
"""


def cmd_split(args: argparse.Namespace) -> int:
    out: Path = args.outdir
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.yaml"):
        stale.unlink()
    names = []
    for doc, body in split_render(args.render.read_text()):
        name = f"{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"
        (out / name).write_text(body)
        names.append(name)
    if args.kustomization:
        listing = "".join(f"  - {n}\n" for n in sorted(names))
        (out / "kustomization.yaml").write_text(KUSTOMIZATION_HEAD + listing)
    return 0


# ---- the streamproc config and Serve config the chart renders --------------------------


def find(docs: list[Obj], kind: str) -> Obj:
    matches = [d for d in docs if d.get("kind") == kind]
    if len(matches) != 1:
        raise SystemExit(f"expected one {kind} in the render, found {len(matches)}")
    return matches[0]


def rendered_config(docs: list[Obj]) -> Obj:
    return yaml.safe_load(find(docs, "ConfigMap")["data"]["config.yaml"])


def cmd_config(args: argparse.Namespace) -> int:
    """Load each render's config.yaml with the project's own loader (strict keys)."""
    from streamproc.config import config_from_dict
    from streamproc.errors import ConfigError

    failed = 0
    for render in args.renders:
        try:
            config_from_dict(rendered_config(load_docs(render)), f"{render}: config.yaml")
            log(f"ok   {render}: config.yaml is a valid streamproc config")
        except ConfigError as err:
            log(f"FAIL {err}")
            failed += 1
    return 1 if failed else 0


def cmd_serve_config(args: argparse.Namespace) -> int:
    """The RayService's serveConfigV2 must equal what `streamproc serve config` prints for
    the serving section and artifact in the same render's config.yaml."""
    failed = 0
    printed: dict[str, str] = {}  # serving section -> CLI output (the CLI takes seconds)
    for render in args.renders:
        docs = load_docs(render)
        serving = rendered_config(docs)["serving"]
        actual = yaml.safe_load(find(docs, "RayService")["spec"]["serveConfigV2"])
        key = json.dumps(serving, sort_keys=True)
        if key not in printed:
            with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
                yaml.safe_dump({"serving": serving}, f)
                f.flush()
                cmd = [args.streamproc, "serve", "config", "--artifact", serving["artifact"]]
                run = subprocess.run([*cmd, "--config", f.name], capture_output=True, text=True)
            if run.returncode != 0:
                log(f"FAIL {render}: {' '.join(cmd)} failed:\n{run.stderr}{run.stdout}")
                failed += 1
                continue
            printed[key] = run.stdout
        expected = yaml.safe_load(printed[key])
        # The app's `args.artifact` is what a replica loads before user_config applies;
        # the chart keeps it apart (models.bootArtifact) so rollouts stay hot swaps.
        boot = actual["applications"][0]["args"]["artifact"]
        expected["applications"][0]["args"]["artifact"] = boot
        if actual != expected:
            diff = difflib.unified_diff(
                yaml.safe_dump(expected, sort_keys=True).splitlines(),
                yaml.safe_dump(actual, sort_keys=True).splitlines(),
                "streamproc serve config",
                "RayService serveConfigV2",
                lineterm="",
            )
            log(f"FAIL {render}: serveConfigV2 differs\n" + "\n".join(diff))
            failed += 1
        else:
            log(f"ok   {render}: serveConfigV2 == `streamproc serve config` (boot {boot})")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("schemas", help="write kubeconform schemas; print kinds to skip")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--k8s-schemas", type=Path, required=True)
    s.add_argument("--kube-version", default="1.32.0")
    s.add_argument("--crds", type=Path)
    s.add_argument("files", type=Path, nargs="+")
    s.set_defaults(func=cmd_schemas)
    s = sub.add_parser("split", help="write a render as one file per object + kustomization")
    s.add_argument("render", type=Path)
    s.add_argument("outdir", type=Path)
    s.add_argument("--no-kustomization", dest="kustomization", action="store_false")
    s.set_defaults(func=cmd_split)
    s = sub.add_parser("config", help="validate the rendered config.yaml")
    s.add_argument("renders", type=Path, nargs="+")
    s.set_defaults(func=cmd_config)
    s = sub.add_parser("serve-config", help="compare serveConfigV2 with the CLI's")
    s.add_argument("--streamproc", default="streamproc")
    s.add_argument("renders", type=Path, nargs="+")
    s.set_defaults(func=cmd_serve_config)
    args = p.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
