"""`streamproc bench ...`: benchmarks whose output goes into BENCHMARKS.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import typer
from pydantic import ValidationError

from streamproc.cli.common import console, friendly_errors
from streamproc.config import StreamprocConfig, apply_overrides, parse_override
from streamproc.config.cameras import CameraDefaults
from streamproc.config.data import FLOW_METHODS
from streamproc.errors import ConfigError
from streamproc.model.registry import MODELS, get_entry

# The benchmarks (torch, Ray, Kafka, OpenCV) are imported by the command that runs them,
# so that `streamproc --help` and the light commands start at once.

app = typer.Typer(help="Benchmarks (results go into BENCHMARKS.md).", no_args_is_help=True)

# Options the pipeline benchmarks share.
FLEET_DATA = typer.Option(..., "--data", help="Labelled dataset; each test clip = a camera.")
ARTIFACT = typer.Option(..., "--artifact", help="Model artifact.")
TRANSPORT = typer.Option("memory", "--transport", help="kafka or memory.")
SCORING = typer.Option("serve", "--scoring", help="serve (Ray Serve) or local.")


def save(path: Path | None, text: str) -> None:
    """Write a benchmark's output to ``path`` (its folder made) when one was given."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def modes(
    transport: str, scoring: str
) -> tuple[Literal["kafka", "memory"], Literal["serve", "local"]]:
    """--transport and --scoring checked, as the benchmarks' types."""
    if transport not in ("kafka", "memory"):
        raise ConfigError(f"--transport must be kafka or memory, got {transport!r}")
    if scoring not in ("serve", "local"):
        raise ConfigError(f"--scoring must be serve or local, got {scoring!r}")
    return (
        "kafka" if transport == "kafka" else "memory",
        "serve" if scoring == "serve" else "local",
    )


@app.command("detection")
@friendly_errors
def detection(
    data: list[Path] = typer.Option(
        ...,
        "--data",
        help="Labelled dataset root (e.g. UCSD Ped2); repeat for several scenes, each "
        "reported on its own and in the mean.",
    ),
    out: Path = typer.Option(
        Path("runs/bench-detection"), "--out", help="Artifacts (OUT/SCENE/MODEL) and results."
    ),
    model: list[str] = typer.Option(
        list(MODELS), "--model", help="Models to include (repeatable)."
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", min=1, help="Override every model's epochs."
    ),
    reuse: bool = typer.Option(False, "--reuse", help="Reuse artifacts already in --out."),
    override: list[str] = typer.Option(
        [],
        "--set",
        help="PATH=VALUE on top of each model's settings, for models and baselines alike "
        "(repeatable), e.g. --set data.preprocess.flow_scale=1.5.",
    ),
) -> None:
    """Train each model with default settings on each scene, evaluate under both
    protocols beside the training-free baselines, print a table with the mean."""
    from streamproc.evaluation.benchmark import run_benchmark
    from streamproc.sources.dataset import open_split

    for m in model:
        get_entry(m)
    overrides = dict(parse_override(item, "--set") for item in override)
    apply_overrides(StreamprocConfig(), overrides)  # a bad path fails before any training
    for d in data:
        open_split(d, "test", require_labels=True)  # fail before any training
    result = run_benchmark(
        data, out, model, epochs, reuse, log=lambda s: console.print(s), overrides=overrides
    )
    typer.echo((out / "table.md").read_text())
    console.print(f"results: {out / 'results.json'} ({len(result['rows'])} rows)")


@app.command("pipeline")
@friendly_errors
def pipeline(
    data: Path = FLEET_DATA,
    artifact: Path = ARTIFACT,
    transport: str = TRANSPORT,
    report: Path = typer.Option(..., "--report", help="JSON report to write."),
    scoring: str = SCORING,
    workers: int = typer.Option(1, "--workers", min=1, help="Stream worker threads."),
    fps: float | None = typer.Option(None, "--fps", help="Pace each camera (default: unpaced)."),
    timeout: float = typer.Option(1800, "--timeout", help="Give up after seconds."),
    model_threads: int | None = typer.Option(
        None,
        "--model-threads",
        min=1,
        help="torch threads per Serve replica (default: the cores divided among the "
        "replicas); the raw measurement runs as many models with as many threads.",
    ),
    replicas: int = typer.Option(1, "--replicas", min=1, help="Serve replicas of the model."),
    in_flight: int | None = typer.Option(
        None,
        "--in-flight",
        min=1,
        max=64,
        help="Batches a worker keeps submitted to the model (worker.max_in_flight; "
        "default: the config's).",
    ),
    camera_resize: str | None = typer.Option(
        None,
        "--camera-resize",
        metavar="WxH",
        help="Cameras downscale to WxH at capture (their `resize` setting), e.g. the "
        "model's input size; default: native frames on the wire.",
    ),
) -> None:
    """Replay every test clip as a camera through the full pipeline and measure it."""
    from streamproc.evaluation.pipeline_bench import run_pipeline_bench

    kind, mode = modes(transport, scoring)
    result = run_pipeline_bench(
        data,
        artifact,
        kind,
        mode,
        workers,
        timeout,
        fps,
        log=lambda s: console.print(s),
        model_threads=model_threads,
        replicas=replicas,
        in_flight=in_flight,
        camera_resize=parse_size(camera_resize) if camera_resize else None,
    )
    text = json.dumps(result, indent=2)
    save(report, text)
    typer.echo(text)


def parse_size(text: str) -> tuple[int, int]:
    """'144x96' -> (144, 96); anything else is a ConfigError naming the expected form."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(
            f"--camera-resize must look like WIDTHxHEIGHT (e.g. 144x96), got {text!r}"
        )
    size = (int(parts[0]), int(parts[1]))
    try:  # the cameras' own `resize` check, so the two cannot drift apart
        CameraDefaults(resize=size)
    except ValidationError as err:
        reason = err.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(f"--camera-resize {text!r}: {reason}") from None
    return size


@app.command("flow")
@friendly_errors
def flow(
    data: list[Path] = typer.Option(..., "--data", help="Labelled dataset (repeatable)."),
    out: Path | None = typer.Option(None, "--out", help="Also write the table here."),
    method: list[str] = typer.Option(
        list(FLOW_METHODS), "--method", help="Flow algorithms (repeatable)."
    ),
    scale: list[float] = typer.Option(
        [],
        "--scale",
        min=1,
        max=4,
        help="data.preprocess.flow_scale values (repeatable; default: the config's).",
    ),
) -> None:
    """Optical-flow algorithms for the motion channel: AUC of the flow-speed score and CPU
    ms per frame on each scene."""
    from streamproc.evaluation.flow_bench import flow_rows, flow_table
    from streamproc.sources.dataset import open_split

    for m in method:
        if m not in FLOW_METHODS:
            raise ConfigError(f"--method must be one of {list(FLOW_METHODS)}, got {m!r}")
    for d in data:
        open_split(d, "test", require_labels=True)
    table = flow_table(flow_rows(data, tuple(method), tuple(scale) or None))
    save(out, table)
    typer.echo(table)


@app.command("scoring")
@friendly_errors
def scoring(
    data: Path = typer.Option(..., "--data", help="Labelled dataset."),
    artifact: Path = typer.Option(..., "--artifact", help="Trained artifact."),
    out: Path | None = typer.Option(None, "--out", help="Also write the table here."),
) -> None:
    """Scoring choices (pixel normalisation, channels, patch) and two training-free baselines."""
    from streamproc.evaluation.ablation import ablation_table, scoring_ablation
    from streamproc.model.artifact import load_artifact

    rows = scoring_ablation(data, artifact)
    table = ablation_table(rows, str(artifact), load_artifact(artifact).version)
    save(out, table)
    typer.echo(table)


@app.command("cost")
@friendly_errors
def cost(
    data: Path = FLEET_DATA,
    artifact: Path = ARTIFACT,
    transport: str = TRANSPORT,
    scoring: str = typer.Option(
        "serve",
        "--scoring",
        help="serve (a Serve handle), http (Serve's HTTP ingress, the chart's data path) or "
        "local (the model in the worker).",
    ),
    layout: list[str] = typer.Option(
        ["1x1"], "--layout", help="WORKERSxREPLICAS, repeatable (e.g. 1x1 2x1 1x2)."
    ),
    variant: list[str] = typer.Option(
        ["defaults"],
        "--variant",
        help="NAME or NAME:path=value[,path=value] config overrides, repeatable, e.g. "
        "per-window-flow:serving.frame_cache_frames=0 or jpeg:cameras.codec=jpeg.",
    ),
    model_threads: int = typer.Option(
        1,
        "--model-threads",
        min=1,
        help="torch/OpenCV threads per replica (1, as Ray gives a num_cpus 1 replica, puts "
        "the model's whole CPU in its stage).",
    ),
    fps: float | None = typer.Option(None, "--fps", help="Pace each camera (default: unpaced)."),
    timeout: float = typer.Option(1800, "--timeout", help="Give up a run after seconds."),
    report: Path | None = typer.Option(None, "--report", help="Also write the JSON here."),
    out: Path | None = typer.Option(None, "--out", help="Also write the table here."),
) -> None:
    """CPU seconds per 1,000 frames of every process and stage, bytes per frame on the
    frames topic and Redis commands per window, for each layout and variant."""
    from streamproc.evaluation.cost_bench import cost_table, parse_layout, parse_variant, run_cost
    from streamproc.sources.dataset import open_split

    kind, mode = modes(transport, "serve" if scoring == "http" else scoring)
    layouts = [parse_layout(x) for x in layout]
    variants = [parse_variant(v) for v in variant]
    open_split(data, "test", require_labels=True)
    result = run_cost(
        data, artifact, kind, "http" if scoring == "http" else mode, layouts, variants,
        model_threads,
        timeout, fps, log=lambda s: console.print(s),
    )  # fmt: skip
    table = cost_table(result)
    save(report, json.dumps(result, indent=2))
    save(out, table)
    typer.echo(table)


# ---------------------------------------------------------------- bench cluster (issue 13)
@app.command("model")
@friendly_errors
def model(
    data: Path = typer.Option(..., "--data", help="Labelled dataset (real windows to time)."),
    artifact: Path = ARTIFACT,
    variant: list[str] = typer.Option(
        [],
        "--variant",
        help="ENGINE-PRECISION, repeatable (default: eager and compile in fp32 and bf16, and "
        "onnx-fp32 where ONNX Runtime is installed): eager|compile (serving.engine) or onnx (ONNX "
        "Runtime, fp32 only) with auto|fp32|bf16|fp16 (serving.precision). eager-fp32, "
        "the reference, is always measured.",
    ),
    threads: int = typer.Option(
        1, "--threads", min=1, help="torch threads (1 = what a num_cpus 1 replica gets)."
    ),
    batch: int = typer.Option(16, "--batch", min=1, help="Windows per forward pass."),
    windows: int = typer.Option(64, "--windows", min=1, help="Windows timed per round."),
    rounds: int = typer.Option(5, "--rounds", min=1, help="Alternating timing rounds."),
    pass_size: list[int] = typer.Option(
        [],
        "--pass-size",
        min=1,
        help="Also time each variant with forward passes of this many windows, repeatable "
        "(alternated in one run; what serving.forward_windows chooses between).",
    ),
    accuracy: bool = typer.Option(
        True,
        "--accuracy/--no-accuracy",
        help="Also score every test clip (score differences, streaming AUC) and the "
        "artifact's calibration clips (threshold shift) with every variant.",
    ),
    report: Path | None = typer.Option(None, "--report", help="Also write the JSON here."),
    out: Path | None = typer.Option(None, "--out", help="Also write the table here."),
) -> None:
    """CPU ms per frame of the network's forward pass for each engine and precision, on the
    same real windows, with the scores' distance from eager fp32."""
    from streamproc.evaluation.model_bench import (
        DEFAULT_VARIANTS,
        model_table,
        parse_variant,
        run_model_bench,
    )
    from streamproc.sources.dataset import open_split

    variants = [parse_variant(v) for v in variant or DEFAULT_VARIANTS]
    open_split(data, "test", require_labels=True)
    result = run_model_bench(
        data, artifact, variants, threads, batch, windows, rounds, accuracy,
        log=lambda s: console.print(s), pass_sizes=pass_size,
    )  # fmt: skip
    table = model_table(result)
    save(report, json.dumps(result, indent=2))
    save(out, table)
    typer.echo(table)


@app.command("cluster")
@friendly_errors
def cluster(
    data: Path = typer.Option(..., "--data", help="Labelled dataset; each test clip = a camera."),
    artifact: Path = typer.Option(..., "--artifact", help="Model artifact."),
    fault: str = typer.Option(
        "none", "--fault", help="none, broker, ray-worker, stream-worker, ingest or partition."
    ),
    cameras: int | None = typer.Option(None, "--cameras", min=1, help="First N test clips."),
    frames: int | None = typer.Option(None, "--frames", min=1, help="First N frames per clip."),
    fps: float = typer.Option(5.0, "--fps", min=0.1, help="Capture rate each camera replays at."),
    fault_at: float = typer.Option(8.0, "--fault-at", help="Seconds after the first score."),
    timeout: float = typer.Option(300.0, "--timeout", help="Give up waiting after this long."),
    threshold_k: float | None = typer.Option(
        None, "--threshold-k", min=0, help="threshold.k for every camera (more alerts: lower)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Also write the JSON report here."),
) -> None:
    """Replay test clips through the namespaced cluster of `scripts/cluster.sh up` (Kafka x3,
    Redis, Ray head + worker node, 2 ingest shards, 2 stream workers), inject one fault,
    report frames scored, windows lost, duplicate alert ids, recovery time and AUC."""
    from streamproc.evaluation.cluster_bench import run_cluster_bench

    report = run_cluster_bench(
        data, artifact, fault, cameras, frames, fps, fault_at, timeout_s=timeout,
        threshold_k=threshold_k, log=lambda s: console.print(s),
    )  # fmt: skip
    text = json.dumps(report, indent=2)
    save(out, text)
    typer.echo(text)


# --- `streamproc bench chaos` (issue 12): kept in its own block at the end of the file.
@app.command("chaos")
@friendly_errors
def chaos(
    work: Path = typer.Option(
        Path("runs/bench-chaos"), "--work", help="Work dir: cameras, tiny model, run logs."
    ),
    artifact: Path | None = typer.Option(
        None, "--artifact", help="Model artifact (default: a tiny one trained into --work)."
    ),
    scenario: list[str] | None = typer.Option(
        None, "--scenario", help="Run only these (repeatable; default: all)."
    ),
    short: bool = typer.Option(
        False, "--short", help="Each fault once and 300 fuzzed messages through Kafka (CI)."
    ),
    report: Path | None = typer.Option(None, "--report", help="Also write the rows as JSON."),
    overload_s: float | None = typer.Option(
        None, "--overload-s", min=10, help="Overload duration (default 60 s with --short, 600)."
    ),
) -> None:
    """Faults against the real Kafka and Redis of scripts/services.sh and a local Ray
    (workers SIGKILLed at each step of a batch, Redis and broker restarts, a Serve replica
    killed or hung, poison and fuzzed records, rebalance churn, 2x overload); every
    scenario is judged by the same oracle. Exits 1 on a failure."""
    from streamproc.evaluation.chaos.suite import report as rows
    from streamproc.evaluation.chaos.suite import run_chaos, table

    results = run_chaos(
        work, artifact, scenario, short, log=lambda s: console.print(s), overload_s=overload_s
    )
    save(report, json.dumps(rows(results), indent=2))
    typer.echo(table(results, short))
    if not all(r.passed for r in results):
        raise typer.Exit(1)


@app.command("startup")
@friendly_errors
def startup(
    rounds: int = typer.Option(5, "--rounds", min=1, help="Runs of each command, alternated."),
    against: Path | None = typer.Option(
        None,
        "--against",
        help="Another checkout (e.g. `git worktree add /tmp/old COMMIT`) timed in the same "
        "rounds, alternated with this one.",
    ),
    out: Path | None = typer.Option(None, "--out", help="Also write the table here."),
) -> None:
    """CPU seconds of the light commands (--help, config, camera, alerts schema) in fresh
    processes, and whether any loads torch, Ray, Kafka or OpenCV. Goal: under 1 s each."""
    from streamproc.evaluation.startup_bench import run_startup, startup_table

    table = startup_table(run_startup(rounds, against), rounds)
    save(out, table)
    typer.echo(table)


@app.command("synthetic")
@friendly_errors
def synthetic(
    data: Path = typer.Option(..., "--data", help="Scene with train/ (e.g. UCSD Ped2)."),
    artifact: Path = ARTIFACT,
    base: list[str] = typer.Option(
        [],
        "--base",
        help="Training clips to paste into (repeatable; default: the clips the artifact "
        "held out for calibration).",
    ),
    work: Path = typer.Option(
        Path("runs/bench-synthetic"), "--work", help="Where the cases are written."
    ),
    out: Path | None = typer.Option(None, "--out", help="Also write the JSON verdicts here."),
) -> None:
    """Cases the shared scenes lack, built from the scene's own footage: a person pasted
    standing still where nobody walks (must alert) and a walker scaled up to a quarter of
    the frame (must not). Judged by the streaming protocol with the worker's decisions."""
    from streamproc.evaluation.synthetic_cases import base_clips, build_cases, judge
    from streamproc.model.artifact import load_artifact

    art = load_artifact(artifact)
    bases = base or base_clips(art)
    if not bases:
        raise ConfigError("the artifact records no training clips; name them with --base")
    cases = build_cases(data, bases, work, art.config.evaluation.fps)
    verdict = judge(art, work, cases, art.config.evaluation.batch_size)
    text = json.dumps(verdict, indent=2)
    save(out, text)
    typer.echo(text)
    console.print(
        f"loiterer alerted {verdict['loiterer']}, close walker quiet {verdict['close-walker']}"
    )
