"""Device and precision selection: 'auto' is bf16 only where the hardware computes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from streamproc.model import device
from streamproc.model.device import cpu_flags, cpu_has_native_bf16, resolve_precision


def test_explicit_precision_is_taken_as_it_is() -> None:
    for p in ("fp32", "bf16", "fp16"):
        assert resolve_precision(p, "cpu") == p  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ({"avx2", "avx512f", "amx_tile", "amx_bf16"}, True),  # Sapphire Rapids and later
        ({"avx2", "avx512f", "avx512_bf16"}, True),  # Cooper Lake, AMD Zen 4
        ({"avx2", "avx512f", "avx512bw"}, False),  # Skylake-SP: oneDNN would emulate bf16
        ({"avx2", "fma"}, False),
        (set(), False),  # not Linux, or no flags line
    ],
)
def test_native_bf16_from_cpu_flags(flags: set[str], native: bool) -> None:
    assert cpu_has_native_bf16(flags) is native


def test_cpu_flags_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\nbugs\t\t: spectre_v1\n")
    assert cpu_flags(info) == {"fpu", "avx2", "amx_bf16"}
    assert cpu_flags(tmp_path / "missing") == set()


def test_auto_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(device, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"


def test_auto_follows_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", "cuda") == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_precision("auto", "cuda:0") == "fp32"


def test_torch_and_cpuinfo_agree_here() -> None:
    """torch's own probes and /proc/cpuinfo give the same answer on this machine."""
    flags = cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo flags on this machine")
    assert cpu_has_native_bf16() == cpu_has_native_bf16(flags)
