"""The model store: versioned artifacts and the pointer serving follows.

    STORE/<model-name>/<version>/   one artifact directory (see ``artifact.py``)
    STORE/<model-name>/current      the promoted version id, one line

``STORE`` is a local directory or any fsspec URI (``s3://bucket/models``,
``memory://`` in tests). A version id is the artifact's content hash, so exporting the
same artifact twice is a no-op and a version never changes once written. Promotion only
rewrites ``current``; serving is pointed at ``STORE/<name>/<version>`` by its
``user_config`` (``streamproc model promote`` does both).
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from streamproc.errors import ArtifactError
from streamproc.model.artifact import FILES, load_artifact

NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
POINTER = "current"
# metadata.json is written last: a version directory without it is an interrupted export.
ARTIFACT_FILES = (*FILES, "metadata.json")


@dataclass(frozen=True)
class StoredVersion:
    name: str
    version: str
    uri: str  # STORE/<name>/<version>
    metadata: dict[str, Any]


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ArtifactError(
            f"model name must be 1-128 characters of A-Z a-z 0-9 . _ -, got {name!r}"
        )
    return name


class ModelStore:
    """Versions of named models under one root (a directory or an fsspec URI)."""

    def __init__(self, uri: str | Path) -> None:
        self.uri = str(uri)
        self.fs, self.root = fsspec.core.url_to_fs(self.uri)
        self.local = "file" in _protocols(self.fs)
        if self.local:
            self.root = str(Path(self.root).expanduser().resolve())

    def _join(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def version_uri(self, name: str, version: str) -> str:
        """Where a version lives, as a path (local store) or a URI serving can be given."""
        path = self._join(check_name(name), check_name(version))
        return path if self.local else self.fs.unstrip_protocol(path)

    def names(self) -> list[str]:
        if not self.fs.exists(self.root):
            return []
        return sorted(Path(p).name for p in self.fs.ls(self.root, detail=False) if self.fs.isdir(p))

    def versions(self, name: str) -> list[StoredVersion]:
        """Complete versions of ``name``, oldest first."""
        base = self._join(check_name(name))
        if not self.fs.exists(base):
            return []
        out = []
        for p in self.fs.ls(base, detail=False):
            version = Path(p.rstrip("/")).name
            meta_path = f"{p.rstrip('/')}/metadata.json"
            if version.startswith("."):
                continue  # an export in progress
            if self.fs.isdir(p) and self.fs.exists(meta_path):
                meta = json.loads(self.fs.cat_file(meta_path))
                out.append(StoredVersion(name, version, self.version_uri(name, version), meta))
        return sorted(out, key=lambda v: (str(v.metadata.get("created", "")), v.version))

    def get(self, name: str, version: str) -> StoredVersion:
        for v in self.versions(name):
            if v.version == version:
                return v
        known = ", ".join(v.version for v in self.versions(name)) or "none"
        raise ArtifactError(
            f"model {name!r} has no version {version!r} in {self.uri}; versions: {known}. "
            "Export it first (`streamproc model export` or a search's --store)"
        )

    def resolve_name(self, name: str | None) -> str:
        """``name``, or the only model in the store when none is given."""
        if name is not None:
            return check_name(name)
        names = self.names()
        if len(names) != 1:
            raise ArtifactError(
                f"{self.uri} holds models {names or 'none'}; pass --name to choose one"
            )
        return names[0]

    def export(self, artifact_dir: str | Path, name: str | None = None) -> StoredVersion:
        """Copy a verified artifact directory in as ``STORE/<name>/<version>``."""
        art = load_artifact(artifact_dir)  # checks the content hash before copying
        name = check_name(name or str(art.metadata.get("model", art.config.model.name)))
        version = art.version
        target = self._join(name, version)
        if self.fs.exists(f"{target}/metadata.json"):
            return self.get(name, version)  # same hash, same content: nothing to do
        src = Path(artifact_dir)
        if self.local:
            staging = self._join(name, f".{version}.{uuid.uuid4().hex[:8]}.tmp")
            self.fs.makedirs(staging, exist_ok=True)
            for f in ARTIFACT_FILES:
                self.fs.put_file(str(src / f), f"{staging}/{f}")
            self.fs.mv(staging, target, recursive=True)  # a rename: atomic on one filesystem
        else:
            self.fs.makedirs(target, exist_ok=True)
            for f in ARTIFACT_FILES:
                self.fs.put_file(str(src / f), f"{target}/{f}")
        return self.get(name, version)

    def current(self, name: str) -> str | None:
        path = self._join(check_name(name), POINTER)
        if not self.fs.exists(path):
            return None
        return self.fs.cat_file(path).decode().strip() or None

    def promote(self, name: str, version: str) -> str | None:
        """Point ``current`` at ``version`` (which must exist); returns the previous one."""
        self.get(name, version)
        previous = self.current(name)
        path = self._join(name, POINTER)
        if self.local:
            tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
            self.fs.pipe_file(tmp, f"{version}\n".encode())
            self.fs.mv(tmp, path)  # readers see the old or the new pointer, never half
        else:
            self.fs.pipe_file(path, f"{version}\n".encode())
        return previous

    def fetch(self, name: str, version: str | None = None, cache: Path | None = None) -> Path:
        """A local directory holding the version (``None`` = current): the store's own
        directory when local, else a copy under ``cache`` (default: a temp folder)."""
        version = version or self.current(name)
        if version is None:
            raise ArtifactError(f"model {name!r} has no promoted version in {self.uri}")
        stored = self.get(name, version)
        if self.local:
            return Path(stored.uri)
        dest = Path(cache or tempfile.mkdtemp(prefix="streamproc-model-")) / name / version
        if not (dest / "metadata.json").exists():
            dest.mkdir(parents=True, exist_ok=True)
            for f in ARTIFACT_FILES:
                self.fs.get_file(self._join(name, version, f), str(dest / f))
        return dest


def _protocols(fs: fsspec.AbstractFileSystem) -> set[str]:
    p = fs.protocol
    return {p} if isinstance(p, str) else set(p)
