"""How the network runs: eager torch, or compiled by ``torch.compile`` (Inductor).

Compiling fuses the attention block's and the decoder's small operations into
generated C++ (on a GPU, Triton) kernels: the same arithmetic in fewer passes over
memory. It costs a C++ compiler where the model runs and compilation when a scorer is
built (``WindowScorer.warm_up``; about 55 CPU seconds for the default model with an
empty Inductor cache, a few with a warm one): once for a batch of one window and once
for larger batches (the batch dimension is compiled as dynamic), so the first
requests do not pay it. Dynamo may still add a graph for a batch size outside the range
it proved the first one for (seen on a tiny test model, not on the default model for
batches of 1 to 16); after ``torch._dynamo.config.recompile_limit`` graphs it runs eager.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Literal

import torch

from streamproc.errors import ConfigError
from streamproc.model.base import AnomalyModel, ModelOutput

Engine = Literal["eager", "compile"]
Network = Callable[[torch.Tensor], ModelOutput]
COMPILERS = ("g++", "c++", "clang++")


def cpp_compiler() -> str | None:
    """The C++ compiler Inductor would use ($CXX, else the usual names), or None."""
    names = (os.environ["CXX"],) if os.environ.get("CXX") else COMPILERS
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def build_network(model: AnomalyModel, engine: Engine, device: torch.device) -> Network:
    """The callable a scorer runs its batches (B, C, T, H, W) through."""
    if engine == "eager":
        return model
    if cpp_compiler() is None:
        raise ConfigError(
            "serving.engine is 'compile' but no C++ compiler (g++, c++, clang++ or $CXX) "
            "is on this machine's PATH; torch.compile needs one where the model runs: "
            "install g++ in the image or set serving.engine to 'eager'"
        )
    compiled = torch.compile(model)

    def run(x: torch.Tensor) -> ModelOutput:
        # A graph is specialised to its input's memory layout: one layout for every caller
        # (clip windows arrive transposed, a replica's stacked), one graph for every batch
        # size above one (a batch of one gets its own), so nothing recompiles live.
        x = x.contiguous()
        if x.shape[0] > 1:
            torch._dynamo.mark_dynamic(x, 0)
        out: ModelOutput = compiled(x)
        return out

    return run
