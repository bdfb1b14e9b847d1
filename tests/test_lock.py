"""The environment is the lock: what setup installed is exactly requirements.lock (for
this interpreter and platform), and the lock satisfies pyproject's ranges, so a fresh
machine gets what CI tested and an edited range cannot go unlocked."""

from __future__ import annotations

import re
import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
# The installer itself and the project: neither is a locked dependency.
NOT_LOCKED = {"pip", "streamproc"}
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked() -> dict[str, str]:
    """name -> version for every lock entry whose marker holds on this interpreter."""
    out: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        m = PIN.match(line)
        if m is None:
            continue
        name, version, marker = m.groups()
        if marker is None or Marker(marker).evaluate():
            out[canonicalize_name(name)] = version
    return out


def installed() -> dict[str, str]:
    """What the virtualenv holds: its site-packages only (``import ray`` puts Ray's own
    vendored packages on ``sys.path``; they are part of Ray, not of the environment)."""
    site = list(dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib")))
    return {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in metadata.distributions(path=site)
        if canonicalize_name(d.metadata["Name"]) not in NOT_LOCKED
    }


def test_every_lock_entry_is_pinned_with_hashes() -> None:
    text = LOCK.read_text()
    entries = [line for line in text.splitlines() if PIN.match(line)]
    assert len(entries) > 50, "requirements.lock holds too few pins; run scripts/lock.sh"
    unpinned = [ln for ln in text.splitlines() if ln[:1].isalnum() and not PIN.match(ln)]
    assert not unpinned, f"lock entries without an exact version: {unpinned}"
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        if PIN.match(block.splitlines()[0]):
            assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]}"


def test_the_installed_environment_is_exactly_the_lock() -> None:
    want, have = locked(), installed()
    missing = {n: v for n, v in want.items() if n not in have}
    extra = {n: v for n, v in have.items() if n not in want}
    moved = {n: (want[n], have[n]) for n in want.keys() & have.keys() if want[n] != have[n]}
    assert not (missing or extra or moved), (
        f"the virtualenv differs from requirements.lock: missing {missing}, not locked "
        f"{extra}, other versions (lock, installed) {moved}; run scripts/setup.sh"
    )


def test_the_lock_satisfies_pyprojects_ranges() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    pins = locked()
    for spec in wanted:
        req = Requirement(spec)
        if req.marker is not None and not req.marker.evaluate():
            continue
        version = pins.get(canonicalize_name(req.name))
        assert version is not None, f"{req.name} is not in the lock; run scripts/lock.sh"
        assert req.specifier.contains(version, prereleases=True), (
            f"the lock pins {req.name}=={version}, outside pyproject's {req}; "
            "run scripts/lock.sh to re-resolve"
        )
