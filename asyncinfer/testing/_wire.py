"""Wire constants and the byte-exact JSON and SSE encoders the emulator writes (§2.1, §3.1)."""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

# §3.1: every event starts with a UTF-8 BOM, then "event: <type>\ndata: <payload>\n\n".
_BOM: Final = b"\xef\xbb\xbf"


_SSE_CONTENT_TYPE: Final = "text/event-stream"  # §2.1: exactly this, no charset


_JSON_CONTENT_TYPE: Final = "application/json"


_PRODUCT_HEADER: Final = "X-elastic-product"  # §2.1, RestController.ELASTIC_PRODUCT_HTTP_HEADER


_OPAQUE_ID_HEADER: Final = "X-Opaque-Id"  # §2.1, echoed by DefaultRestChannel


# wait_for_connections()/wait_closed() poll at this interval when used from another loop.
_POLL_INTERVAL_S: Final = 0.005


# orjson writes "\u001f"; Jackson writes "\u001F" (CharTypes.HC is upper case). Only escapes
# preceded by an even number of backslashes are escapes, not escaped backslashes.
_LOWER_ESCAPE: Final = re.compile(rb"(?<!\\)((?:\\\\)*)\\u00([0-9a-f]{2})")


def _json(value: Any) -> bytes:
    """Compact JSON as Jackson writes it: raw UTF-8, short escapes, upper-case hex escapes."""
    data = orjson.dumps(value)
    if b"\\u00" in data:
        data = _LOWER_ESCAPE.sub(lambda m: m.group(1) + b"\\u00" + m.group(2).upper(), data)
    return data


def _sse_event(event: str, data: bytes) -> bytes:
    return _BOM + b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


_DONE_EVENT: Final = _sse_event("message", b"[DONE]")  # §3.2 ServerSentEventDoneBodyPart


class _Shutdown(Exception):
    """The emulator is closing; the handler must end its response at once."""


def _pretty(value: Any, indent: int = 0) -> bytes:
    """Jackson's DefaultPrettyPrinter as ES configures it (used by GET /)."""
    if not isinstance(value, dict):
        return _json(value)
    if not value:
        return b"{ }"
    pad = b"  " * (indent + 1)
    items = [pad + _json(k) + b" : " + _pretty(v, indent + 1) for k, v in value.items()]
    return b"{\n" + b",\n".join(items) + b"\n" + b"  " * indent + b"}"
