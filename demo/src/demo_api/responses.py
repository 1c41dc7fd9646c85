"""A JSON response rendered by orjson (UTC datetimes end in ``Z``)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

_OPTS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


class FastJSONResponse(JSONResponse):
    """``JSONResponse`` that serialises with orjson."""

    def render(self, content: Any) -> bytes:
        """Serialise ``content`` to JSON bytes."""
        return orjson.dumps(content, option=_OPTS)
