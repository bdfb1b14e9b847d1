"""The chaos suite (`streamproc bench chaos`): faults injected into a running pipeline on
the real Kafka and Redis, each scenario judged by one oracle (``oracle.py``)."""
