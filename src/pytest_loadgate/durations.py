"""Parse human durations such as ``"30s"``, ``"2m"``, ``"1h30m"`` or plain seconds."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(value: object) -> float:
    """Return ``value`` in seconds; raise ``ValueError`` when it is not a duration.

    Accepts non-negative numbers (seconds) and strings made of ``<number><unit>`` parts
    with units ``h``, ``m``, ``s`` and ``ms`` (``"1m30s"``); a bare numeric string means seconds.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            pos = 0
            seconds = 0.0
            for match in _PART.finditer(text):
                if match.start() != pos:
                    break
                seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
                pos = match.end()
            if pos != len(text) or not text:
                raise ValueError(
                    f"cannot parse duration {value!r} (use e.g. '30s', '2m', '1m30s' or seconds)"
                ) from None
    else:
        raise ValueError(f"expected a duration such as '30s' or a number, got {value!r}")
    if seconds != seconds or seconds < 0:
        raise ValueError(f"duration must be >= 0, got {value!r}")
    return seconds
