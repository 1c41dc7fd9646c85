"""Custom message names between the pytest-side master and pytest-loadgate workers."""

from __future__ import annotations

#: worker → master, once connected: {"name", "pid", "host"} (how verdicts name it, even
#: before it takes a setup)
MSG_HELLO = "loadgate_hello"
#: master → worker: {"payload": b64 cloudpickle of the setup, "echo": master clock at send}
MSG_SETUP = "loadgate_setup"
#: worker → master: setup applied; {"echo": the setup's, "clock": the worker's monotonic clock
#: on receipt, "name": how the worker is named in verdicts}
MSG_READY = "loadgate_ready"
MSG_SAMPLES = "loadgate_samples"  # worker → master: {"samples": {name: [...]}, "final": bool}
MSG_FLUSH = "loadgate_flush"  # master → worker: send what you have, marked final
MSG_ARRIVED = "loadgate_arrived"  # worker → master: one race user reached the barrier
MSG_FINISHED = "loadgate_finished"  # worker → master: one race user finished its task
MSG_RELEASE = "loadgate_release"  # master → workers: release the barrier
#: master → one worker: {"origin": s on the worker's clock, "index": i, "of": n, "seed": int}:
#: start its share of the open model's schedule (the model itself came with the setup).
MSG_OPEN_START = "loadgate_open_start"
#: MSG_SAMPLES also carries "outstanding": [count, oldest send time or None] and, in the open
#: model, "open": a drained ScheduleLog and "peak_busy"; all times on the worker's clock.

#: A worker in a run ships this often, samples or not: its shipments are its heartbeat.
SAMPLE_SHIP_INTERVAL_SEC = 0.5
#: A worker in a run silent this long is lost (six missed shipments).
WORKER_SILENCE_SEC = 3.0
