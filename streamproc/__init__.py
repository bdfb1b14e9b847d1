"""streamproc: multi-camera video anomaly detection as a stream processor.

Data flows one way::

    camera -> frame window -> Kafka topic -> Ray Serve model -> score
           -> per-camera threshold (Redis) -> smoothing -> alert topic

Packages, in the order of that chain:

- ``sources``    read frames: labelled datasets, video files, frame folders
- ``windowing``  preprocess frames and cut them into sliding windows
- ``model``      pure-torch networks, window scoring, calibration, artifacts
- ``smoothing``  rolling smoothers, k-of-n persistence, hysteresis
- ``evaluation`` metrics, the streaming and offline protocols, plots
- ``training``   the plain training loop behind ``streamproc train``
- ``cli``        the thin typer front end

``config`` holds the single pydantic tree every stage reads its section from.
"""

__version__ = "0.1.0"
