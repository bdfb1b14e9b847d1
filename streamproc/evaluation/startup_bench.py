"""`streamproc bench startup`: CPU seconds each light CLI command takes to start and
finish, in fresh processes (the import cost a user pays on every call).

Each command runs ``rounds`` times, the commands alternating, so that the machine's noise
falls on all of them alike; the table gives the median and the range of each command's
user+system CPU (its own and its children's), and the modules a command must not load.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from streamproc.errors import ConfigError

# The commands the CLI promises to start at once (issue 23's list), with arguments that
# need no service: the embedded state store in a temporary folder.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--help",),
    ("config", "show"),
    ("config", "validate"),
    ("camera", "list"),
    ("camera", "show", "bench-startup-cam"),
    ("camera", "set", "bench-startup-cam", "--threshold", "1.5"),
    ("alerts", "schema"),
)
# What a light command must not import: each costs a second or more of CPU.
HEAVY = ("torch", "ray", "kafka", "cv2", "sklearn", "matplotlib")
GOAL_CPU_S = 1.0


def _cpu_of(argv: Sequence[str], env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # cwd: the fresh home, never a checkout (`python -m` puts the cwd first on sys.path).
    subprocess.run(
        argv, env=env, cwd=env["HOME"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_modules(args: Sequence[str], env: dict[str, str] | None = None) -> list[str]:
    """The HEAVY modules loaded by running the CLI with ``args`` in a fresh interpreter."""
    probe = (
        "import sys\n"
        "from streamproc.cli.app import app\n"
        f"sys.argv = ['streamproc', *{list(args)!r}]\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY:' + ' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        cwd=(env or os.environ).get("HOME"),
        capture_output=True,
        text=True,
        check=False,
    )
    marked = [line for line in res.stdout.splitlines() if line.startswith("HEAVY:")]
    if not marked:
        raise RuntimeError(f"the probe of `streamproc {' '.join(args)}` failed: {res.stderr}")
    return marked[-1].removeprefix("HEAVY:").split()


def run_startup(rounds: int = 5, against: Path | None = None) -> list[dict[str, object]]:
    """One row per command (and per code tree): CPU seconds (median, min, max over
    ``rounds``) and the heavy modules it loaded. ``against``: another checkout of
    streamproc (e.g. a worktree of an older commit) timed in the same rounds, alternated
    with this one, so both meet the same machine noise."""
    cli = [sys.executable, "-m", "streamproc.cli"]
    trees: list[Path | None] = [None] if against is None else [None, against.resolve()]
    with tempfile.TemporaryDirectory(prefix="sp-startup-") as home:
        base = dict(os.environ, HOME=home)  # the embedded state store under a fresh home
        envs = {t: _env_for(base, t) for t in trees}
        samples: dict[tuple[Path | None, tuple[str, ...]], list[float]] = {
            (t, c): [] for t in trees for c in COMMANDS
        }
        for _ in range(rounds):
            for cmd in COMMANDS:
                for t in trees:
                    samples[(t, cmd)].append(_cpu_of([*cli, *cmd], envs[t]))
        return [
            {
                "code": "this checkout" if t is None else str(t),
                "command": "streamproc " + " ".join(cmd),
                "cpu_s_median": statistics.median(samples[(t, cmd)]),
                "cpu_s_min": min(samples[(t, cmd)]),
                "cpu_s_max": max(samples[(t, cmd)]),
                "heavy_modules": heavy_modules(cmd, envs[t]),
            }
            for t in trees
            for cmd in COMMANDS
        ]


def _env_for(base: dict[str, str], tree: Path | None) -> dict[str, str]:
    if tree is None:  # this checkout: the code this bench was imported from
        tree = Path(__file__).resolve().parents[2]
    elif not (tree / "streamproc" / "cli" / "__main__.py").exists():
        raise ConfigError(
            f"--against {tree}: no streamproc/cli/__main__.py there; copy this checkout's "
            "into it (older commits lack it) so `python -m streamproc.cli` runs its code"
        )
    return dict(base, PYTHONPATH=f"{tree}{os.pathsep}{base.get('PYTHONPATH', '')}")


def startup_table(rows: list[dict[str, object]], rounds: int) -> str:
    lines = [
        f"| code | command | CPU s, median of {rounds} | min | max | heavy modules loaded |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        heavy = ", ".join(r["heavy_modules"]) or "none"  # type: ignore[arg-type]
        lines.append(
            f"| {r.get('code', 'this checkout')} | `{r['command']}` | {r['cpu_s_median']:.2f} | "
            f"{r['cpu_s_min']:.2f} | {r['cpu_s_max']:.2f} | {heavy} |"
        )
    ours = [r for r in rows if r.get("code", "this checkout") == "this checkout"]
    worst = max(float(r["cpu_s_median"]) for r in ours)  # type: ignore[arg-type]
    verdict = "met" if worst < GOAL_CPU_S else "NOT met"
    lines.append(
        f"\nGoal (this checkout): each under {GOAL_CPU_S:g} CPU s: {verdict} "
        f"(worst median {worst:.2f})."
    )
    return "\n".join(lines)
