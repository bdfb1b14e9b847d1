"""Device and arithmetic selection: a GPU when one is there and wanted, the CPU
otherwise; bf16 where the hardware computes it natively, fp32 elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch

Precision = Literal["fp32", "bf16", "fp16"]
PrecisionSetting = Literal["auto", "fp32", "bf16", "fp16"]
# /proc/cpuinfo flags of x86 CPUs that compute bf16 natively (Intel AMX since Sapphire
# Rapids, AVX512-BF16 since Cooper Lake and AMD Zen 4). Without them oneDNN emulates bf16
# in fp32 and autocast only adds conversions.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def pick_device(preference: str = "auto") -> torch.device:
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' was requested but no CUDA GPU is visible; use 'auto' or 'cpu'"
        )
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_has_native_bf16(flags: set[str] | None = None) -> bool:
    """True when this CPU computes bf16 in hardware (AMX or AVX512-BF16): torch's own
    detection first, /proc/cpuinfo when torch does not expose it."""
    if flags is None:
        probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        found = [getattr(torch.cpu, p, None) for p in probes]
        if all(callable(f) for f in found):
            return any(bool(f()) for f in found if callable(f))
        flags = cpu_flags()
    return any(f in flags for f in BF16_CPU_FLAGS)


def resolve_precision(setting: PrecisionSetting, device: torch.device | str) -> Precision:
    """``serving.precision`` on this device: 'auto' is bf16 where the device computes it
    natively (a CUDA GPU with bf16, a CPU with AMX or AVX512-BF16), fp32 elsewhere; the
    other settings are taken as they are."""
    if setting != "auto":
        return setting
    if torch.device(device).type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"
