"""Custom message names between the pytest-side master and pytest-loadgate workers."""

from __future__ import annotations

MSG_SETUP = "loadgate_setup"  # master → worker: {"payload": b64 cloudpickle of the setup}
MSG_READY = "loadgate_ready"  # worker → master: setup applied
MSG_SAMPLES = "loadgate_samples"  # worker → master: {"samples": {name: [...]}, "final": bool}
MSG_FLUSH = "loadgate_flush"  # master → worker: send what you have, marked final
MSG_ARRIVED = "loadgate_arrived"  # worker → master: one race user reached the barrier
MSG_FINISHED = "loadgate_finished"  # worker → master: one race user finished its task
MSG_RELEASE = "loadgate_release"  # master → workers: release the barrier
#: master → one worker: {"origin_wall": s, "index": i, "of": n, "seed": int}: start its share
#: of the open model's schedule (the model itself came with the setup).
MSG_OPEN_START = "loadgate_open_start"
#: MSG_SAMPLES also carries "outstanding": [count, oldest send time (wall) or None] and, in
#: the open model, "open": a drained ScheduleLog (wall times) and "peak_busy".

SAMPLE_SHIP_INTERVAL_SEC = 0.5
