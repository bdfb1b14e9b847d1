"""Device selection: a GPU when one is there and wanted, the CPU otherwise."""

from __future__ import annotations

import torch


def pick_device(preference: str = "auto") -> torch.device:
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "device 'cuda' was requested but no CUDA GPU is visible; use 'auto' or 'cpu'"
        )
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)
