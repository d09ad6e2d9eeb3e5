"""asyncinfer: an asyncio client for the Elasticsearch Inference API, built around streaming.

Public submodules: :mod:`asyncinfer.sse` (a sans-I/O SSE decoder) and
:mod:`asyncinfer.testing` (an Elasticsearch emulator for tests).
"""

from ._client import InferenceClient as InferenceClient
from ._config import Timeouts as Timeouts
from ._exceptions import ApiError as ApiError
from ._exceptions import AsyncInferError as AsyncInferError
from ._exceptions import AuthenticationError as AuthenticationError
from ._exceptions import AuthorizationError as AuthorizationError
from ._exceptions import BadRequestError as BadRequestError
from ._exceptions import ClientClosedError as ClientClosedError
from ._exceptions import ConflictError as ConflictError
from ._exceptions import ConnectError as ConnectError
from ._exceptions import ConnectTimeoutError as ConnectTimeoutError
from ._exceptions import FirstEventTimeoutError as FirstEventTimeoutError
from ._exceptions import IdleTimeoutError as IdleTimeoutError
from ._exceptions import IncompleteStreamError as IncompleteStreamError
from ._exceptions import InvalidRequestError as InvalidRequestError
from ._exceptions import MethodNotAllowedError as MethodNotAllowedError
from ._exceptions import NotFoundError as NotFoundError
from ._exceptions import ReadError as ReadError
from ._exceptions import RequestTimeoutError as RequestTimeoutError
from ._exceptions import ServerError as ServerError
from ._exceptions import SSEProtocolError as SSEProtocolError
from ._exceptions import StreamApiError as StreamApiError
from ._exceptions import StreamError as StreamError
from ._exceptions import TooManyRequestsError as TooManyRequestsError
from ._exceptions import TotalTimeoutError as TotalTimeoutError
from ._exceptions import TransportError as TransportError
from ._exceptions import UnexpectedResponseError as UnexpectedResponseError
from ._exceptions import UsageError as UsageError
from ._stream import CompletionStream as CompletionStream
from ._stream import StreamState as StreamState
from ._version import __version__ as __version__

__all__ = [
    "ApiError",
    "AsyncInferError",
    "AuthenticationError",
    "AuthorizationError",
    "BadRequestError",
    "ClientClosedError",
    "CompletionStream",
    "ConflictError",
    "ConnectError",
    "ConnectTimeoutError",
    "FirstEventTimeoutError",
    "IdleTimeoutError",
    "IncompleteStreamError",
    "InferenceClient",
    "InvalidRequestError",
    "MethodNotAllowedError",
    "NotFoundError",
    "ReadError",
    "RequestTimeoutError",
    "SSEProtocolError",
    "ServerError",
    "StreamApiError",
    "StreamError",
    "StreamState",
    "Timeouts",
    "TooManyRequestsError",
    "TotalTimeoutError",
    "TransportError",
    "UnexpectedResponseError",
    "UsageError",
    "__version__",
]

# Exported classes present themselves as asyncinfer.X, their public home.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
