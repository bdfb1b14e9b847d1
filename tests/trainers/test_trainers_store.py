"""The model store (streamproc/model/store.py) and `streamproc model ...`.

Here rather than in tests/model/ because this change may only add files under
tests/trainers/."""

import shutil
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamproc.cli.app import app
from streamproc.errors import ArtifactError
from streamproc.model.artifact import load_artifact
from streamproc.model.store import ModelStore

runner = CliRunner()


def test_export_promote_and_versions(small_artifact: Path, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "store")
    v = store.export(small_artifact)
    version = load_artifact(small_artifact).version
    assert (v.name, v.version) == ("attention-ae", version)
    assert Path(v.uri) == tmp_path / "store" / "attention-ae" / version
    assert load_artifact(v.uri).version == version
    assert store.export(small_artifact) == v  # same content hash: nothing new
    assert [x.version for x in store.versions("attention-ae")] == [version]
    assert store.current("attention-ae") is None
    assert store.promote("attention-ae", version) is None
    assert (tmp_path / "store" / "attention-ae" / "current").read_text() == f"{version}\n"
    assert store.current("attention-ae") == version
    assert store.fetch("attention-ae") == Path(v.uri)
    assert store.names() == ["attention-ae"] and store.resolve_name(None) == "attention-ae"
    with pytest.raises(ArtifactError, match="no version 'nope'"):
        store.promote("attention-ae", "nope")
    with pytest.raises(ArtifactError, match="model name"):
        store.export(small_artifact, name="bad/name")


def test_export_refuses_a_modified_artifact(small_artifact: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(small_artifact, bad)
    (bad / "calibration.json").write_text((bad / "calibration.json").read_text() + " ")
    with pytest.raises(ArtifactError, match="do not match"):
        ModelStore(tmp_path / "store").export(bad)


def test_fsspec_store(small_artifact: Path, tmp_path: Path) -> None:
    uri = f"memory://streamproc-test-{uuid.uuid4().hex[:8]}/models"
    store = ModelStore(uri)
    v = store.export(small_artifact, name="cam-model")
    assert v.uri.startswith("memory://") and not store.local
    assert store.promote("cam-model", v.version) is None
    local = store.fetch("cam-model", cache=tmp_path / "cache")
    assert load_artifact(local).version == v.version
    assert store.current("cam-model") == v.version


def test_cli_export_list_promote(small_artifact: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    res = runner.invoke(
        app, ["model", "export", "--store", store, "--artifact", str(small_artifact)]
    )
    assert res.exit_code == 0, res.output
    version = load_artifact(small_artifact).version
    res = runner.invoke(app, ["model", "promote", "--store", store, "--version", version])
    assert res.exit_code == 0, res.output
    assert f"-> {version}" in res.output
    res = runner.invoke(app, ["model", "list", "--store", store])
    assert res.exit_code == 0 and f"* {version}" in res.output
    res = runner.invoke(app, ["model", "promote", "--store", store, "--version", "0" * 16])
    assert res.exit_code == 2 and "no version" in res.output
