"""Jobs: the ``trainers`` entry points run on a Ray cluster (Ray Jobs API, with the
cluster's auth token) or as a local process with a private Ray. ``submit`` holds the
job spec and the two ways to run it; ``args`` declares an entry point's options once,
for the side that builds the command line and for the ``trainers`` parser."""

from streamproc.jobs.args import TuneArgs, add_job_args, help_of, job_argv
from streamproc.jobs.submit import (
    TRAINERS,
    JobSpec,
    config_json,
    dashboard_url,
    job_path,
    jobs_client,
    package_dir,
    run_job,
    run_local,
    runtime_env,
    submit_job,
    training_job,
    tune_job,
)

__all__ = [
    "TRAINERS",
    "JobSpec",
    "TuneArgs",
    "add_job_args",
    "config_json",
    "dashboard_url",
    "help_of",
    "job_argv",
    "job_path",
    "jobs_client",
    "package_dir",
    "run_job",
    "run_local",
    "runtime_env",
    "submit_job",
    "training_job",
    "tune_job",
]
