"""Every error asyncinfer raises, split by what the caller can do about it.

::

    AsyncInferError
    ├── TransportError              no usable response: the network failed us
    │   ├── ConnectError            could not connect or send (also a ConnectionError)
    │   │   └── TLSError            the TLS handshake failed: untrusted certificate,
    │   │                           fingerprint mismatch (never retried)
    │   ├── ReadError               the connection broke while reading (also a ConnectionError)
    │   ├── UnsupportedProductError the server is not Elasticsearch (product check)
    │   └── RequestTimeoutError     a time limit fired (also a builtin TimeoutError)
    │       ├── ConnectTimeoutError     Timeouts.connect
    │       ├── FirstEventTimeoutError  Timeouts.first_event
    │       ├── IdleTimeoutError        Timeouts.idle
    │       └── TotalTimeoutError       Timeouts.total
    ├── ApiError                    Elasticsearch answered with an error
    │   ├── BadRequestError         400
    │   ├── AuthenticationError     401
    │   ├── AuthorizationError      403
    │   ├── NotFoundError           404
    │   ├── MethodNotAllowedError   405 (e.g. streaming a task type that cannot stream)
    │   ├── ConflictError           409
    │   ├── TooManyRequestsError    429
    │   ├── ServerError             5xx
    │   └── StreamApiError          an ``event: error`` after the stream began (also a StreamError)
    ├── StreamError                 the stream itself went wrong
    │   ├── SSEProtocolError        bad framing, bad JSON, an event we cannot interpret
    │   └── IncompleteStreamError   the body ended before ``[DONE]``
    ├── UnexpectedResponseError     a 2xx we cannot interpret (not an event stream, not the
    │                               JSON shape the call answers with)
    └── UsageError                  the caller misused an object
        ├── InvalidRequestError     a request argument is invalid; raised before any I/O
        │   │                       (also a ValueError)
        │   └── InvalidTypeError    ... because it has the wrong type (also a TypeError)
        ├── WrongEventLoopError     the client is used from another event loop than its own
        ├── ClientClosedError       the client was closed
        └── TextNotKeptError        a stream's text was asked for, but it did not keep it

Every error raised by a stream after its request was sent carries ``partial_text``: the
tokens received before the failure, joined. Nothing the server sent is lost: the stream yields
every token it received before it raises. (A stream that passed ``Limits.max_kept_text`` no
longer keeps its text: its errors then carry ``""`` and a note that says so.)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "AsyncInferError",
    "AuthenticationError",
    "AuthorizationError",
    "BadRequestError",
    "ClientClosedError",
    "ConflictError",
    "ConnectError",
    "ConnectTimeoutError",
    "FirstEventTimeoutError",
    "IdleTimeoutError",
    "IncompleteStreamError",
    "InvalidRequestError",
    "InvalidTypeError",
    "MethodNotAllowedError",
    "NotFoundError",
    "ReadError",
    "RequestTimeoutError",
    "SSEProtocolError",
    "ServerError",
    "StreamApiError",
    "StreamError",
    "TLSError",
    "TextNotKeptError",
    "TooManyRequestsError",
    "TotalTimeoutError",
    "TransportError",
    "UnexpectedResponseError",
    "UnsupportedProductError",
    "UsageError",
    "WrongEventLoopError",
    "api_error_class",
]


class AsyncInferError(Exception):
    """Root of every error asyncinfer raises.

    Attributes:
        partial_text: Text a stream had received before the error ("" when none, when the
            error did not come from a stream, or when the stream did not keep its text: made
            with ``keep_text=False``, or past ``Limits.max_kept_text``, which a note on the
            error then says).
    """

    partial_text: str = ""

    def __init__(self, message: str, *, partial_text: str = "") -> None:
        super().__init__(message)
        self.partial_text = partial_text

    @property
    def message(self) -> str:
        """The error message, without the partial text."""
        return str(self.args[0]) if self.args else ""


# --- transport -------------------------------------------------------------------------------


class TransportError(AsyncInferError):
    """No usable response: connecting, sending or reading failed, or a time limit fired."""


class ConnectError(TransportError, ConnectionError):
    """The connection could not be opened, or the request could not be sent."""


class TLSError(ConnectError):
    """The TLS handshake failed: the certificate is not trusted, or its fingerprint differs
    from ``ssl_assert_fingerprint``. Never retried: another attempt would fail the same way."""


class UnsupportedProductError(TransportError):
    """The server is not Elasticsearch: its answer lacked ``X-elastic-product: Elasticsearch``.

    Checked until one answer carries the header: on a 2xx, as the official clients check,
    and on a 4xx other than 401, 403, 407, 408 and 429 (Elasticsearch sends the header with
    its errors; a web server's 404 is not "endpoint not found"). Proxies' own answers (those
    statuses and 5xx) stay :class:`ApiError`. Pass ``product_check=False`` to skip it.
    """


class ReadError(TransportError, ConnectionError):
    """The connection broke while the response was being read."""


class RequestTimeoutError(TransportError, TimeoutError):
    """A time limit from :class:`~asyncinfer.Timeouts` fired.

    Attributes:
        limit: Which limit fired: ``"connect"``, ``"first_event"``, ``"idle"`` or ``"total"``.
        seconds: The limit's value in seconds.
    """

    limit: str = ""

    def __init__(self, seconds: float, *, detail: str = "", partial_text: str = "") -> None:
        self.seconds = seconds
        text = f"{self.limit} timeout of {seconds:g}s exceeded"
        super().__init__(f"{text}: {detail}" if detail else text, partial_text=partial_text)


class ConnectTimeoutError(RequestTimeoutError):
    """Opening the connection took longer than ``Timeouts.connect``."""

    limit = "connect"


class FirstEventTimeoutError(RequestTimeoutError):
    """No server-sent event arrived within ``Timeouts.first_event`` of the request."""

    limit = "first_event"


class IdleTimeoutError(RequestTimeoutError):
    """The gap between two events exceeded ``Timeouts.idle``."""

    limit = "idle"


class TotalTimeoutError(RequestTimeoutError):
    """The whole call took longer than ``Timeouts.total``."""

    limit = "total"


# --- API errors ------------------------------------------------------------------------------


class ApiError(AsyncInferError):
    """Elasticsearch answered with an error.

    Attributes:
        status: The HTTP status (for a mid-stream error, the status the event names).
        error_type: Elasticsearch's error type, e.g. ``"resource_not_found_exception"``.
        reason: The human-readable reason.
        body: The parsed JSON error body, or the raw text when it was not JSON.
        endpoint: The request that failed, e.g. ``"POST /_inference/completion/x/_stream"``.
        code: The OpenAI-style ``code`` of chat errors, when the server sent one.
        retry_after: The server's ``Retry-After``, in seconds, when it sent one.
    """

    retry_after: float | None = None

    def __init__(
        self,
        *,
        status: int,
        error_type: str | None,
        reason: str | None,
        body: Any = None,
        endpoint: str | None = None,
        code: str | None = None,
        partial_text: str = "",
    ) -> None:
        self.status = status
        self.error_type = error_type
        self.reason = reason
        self.body = body
        self.endpoint = endpoint
        self.code = code
        parts = [str(status)]
        if error_type:
            parts.append(f"{error_type}:")
        parts.append(reason or "(no reason given)")
        if endpoint:
            parts.append(f"[{endpoint}]")
        super().__init__(" ".join(parts), partial_text=partial_text)


class BadRequestError(ApiError):
    """HTTP 400: the request was invalid (validation, unknown field, task type mismatch)."""


class AuthenticationError(ApiError):
    """HTTP 401: missing or invalid credentials."""


class AuthorizationError(ApiError):
    """HTTP 403: the credentials lack a privilege, or the license does not allow it."""


class NotFoundError(ApiError):
    """HTTP 404: e.g. no inference endpoint with that id."""


class MethodNotAllowedError(ApiError):
    """HTTP 405: e.g. streaming was asked of a task type or service that cannot stream."""


class ConflictError(ApiError):
    """HTTP 409: the request conflicts with the current state."""


class TooManyRequestsError(ApiError):
    """HTTP 429: a rate limit (often the upstream provider's), or a server-side timeout."""


class ServerError(ApiError):
    """HTTP 5xx: Elasticsearch failed internally."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthorizationError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    429: TooManyRequestsError,
}


def api_error_class(status: int) -> type[ApiError]:
    """The most specific :class:`ApiError` subclass for an HTTP status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, ApiError)


# --- stream errors ---------------------------------------------------------------------------


class StreamError(AsyncInferError):
    """The event stream went wrong after the server accepted the request."""


class SSEProtocolError(StreamError):
    """The bytes do not form the event stream we expect.

    Raised for an event over the size limit, invalid JSON in an event, or a ``message``
    event whose JSON is not a completion chunk. The message names the event.
    """


class UnexpectedResponseError(AsyncInferError):
    """A successful status, but a body we cannot interpret.

    For example ``application/json`` on ``_stream`` (a proxy?), or JSON without the result key
    the call answers with.

    Attributes:
        status: The HTTP status.
        content_type: The ``Content-Type`` the server sent.
        body: The start of the body, as text.
    """

    def __init__(self, message: str, *, status: int, content_type: str, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.content_type = content_type
        self.body = body


class IncompleteStreamError(StreamError):
    """The response body ended cleanly but without Elasticsearch's ``[DONE]`` marker."""


class StreamApiError(ApiError, StreamError):
    """An ``event: error`` arrived after the stream had begun (HTTP status was already 200).

    ``status`` is the status named inside the event; every token before the error was yielded
    and is in ``partial_text``.
    """


# --- usage -----------------------------------------------------------------------------------


class UsageError(AsyncInferError):
    """The caller misused an object (e.g. iterated a stream from two tasks at once)."""


class InvalidRequestError(UsageError, ValueError):
    """A request argument is invalid; raised before any I/O. The message names the argument."""


class InvalidTypeError(InvalidRequestError, TypeError):
    """A request or configuration argument has the wrong type; raised before any I/O.

    Both an :class:`InvalidRequestError` (so one ``except`` catches every bad argument) and a
    builtin :class:`TypeError` (what Python code raises for a wrong type). The message names
    the argument, the type expected and the type given.
    """


class WrongEventLoopError(UsageError, RuntimeError):
    """The client was used from an event loop other than the one it first ran in.

    A client's connections belong to the loop that opened them (each ``asyncio.run()`` makes
    a new loop). Make one client per loop, ideally with ``async with InferenceClient(...)``
    inside the coroutine that ``asyncio.run()`` runs. Also a :class:`RuntimeError`, which is
    what asyncio itself raises for the same mistake.
    """


class ClientClosedError(UsageError):
    """The :class:`~asyncinfer.InferenceClient` is closed; create a new one."""


class TextNotKeptError(UsageError):
    """A stream's text was asked for, but the stream no longer has it.

    Raised by ``text``, ``partial_text``, ``tokens`` and ``chunks`` once the answer passed
    ``Limits.max_kept_text`` (the stream dropped what it kept), and by ``read_text()`` and
    ``final_message()`` when pieces already went by unkept (past the limit, or with
    ``keep_text=False``, whose ``text`` is simply ``""``).

    The pieces themselves were all yielded; keep them as they come, call ``read_text()`` (a
    chat stream: ``final_message()``) before reading, or raise the limit
    (``Limits(max_kept_text=None)`` keeps everything).
    """
