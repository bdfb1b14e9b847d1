"""Deploy (or update) streamproc's Serve app on the cluster of scripts/cluster.sh.

    python serve_deploy.py HEAD:6379 ARTIFACT

The HTTP proxy runs on the head only, on 0.0.0.0:8000 of its namespace, so stream
workers (``serving.mode: http``) keep one address while the worker node comes and goes;
the replicas ask for the custom resource ``serve_node`` that only the Ray worker node
has, so they never land on the head."""

import sys

import ray
from ray import serve

from streamproc.config.serving import ServingConfig
from streamproc.serving.app import AppArgs, bind_scorer, deployment_options

address, artifact = sys.argv[1], sys.argv[2]
cfg = ServingConfig(num_cpus=1, threads=1, num_replicas=1)
opts = deployment_options(cfg)
opts["ray_actor_options"]["resources"] = {"serve_node": 1}
opts["health_check_period_s"] = 2
opts["health_check_timeout_s"] = 10
ray.init(address=address, log_to_driver=False)
serve.start(proxy_location="HeadOnly", http_options={"host": "0.0.0.0", "port": 8000})
args = AppArgs(artifact=artifact, threads=1)
serve.run(bind_scorer(args, opts), name=cfg.app_name, route_prefix=cfg.route_prefix)
print(f"deployed {cfg.app_name} ({artifact}) at route {cfg.route_prefix}")
