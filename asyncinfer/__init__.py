"""asyncinfer: an asyncio client for the Elasticsearch Inference API, built around streaming.

Public submodules: :mod:`asyncinfer.sse` (a sans-I/O SSE decoder),
:mod:`asyncinfer.testing` (an Elasticsearch emulator for tests) and
:mod:`asyncinfer.notebook` (live rendering in Jupyter; the ``notebook`` extra).
"""

from ._chat_models import FilePart as FilePart
from ._chat_models import ImagePart as ImagePart
from ._chat_models import ReasoningDetail as ReasoningDetail
from ._client import InferenceClient as InferenceClient
from ._config import Limits as Limits
from ._config import RetryPolicy as RetryPolicy
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
from ._exceptions import InvalidTypeError as InvalidTypeError
from ._exceptions import MethodNotAllowedError as MethodNotAllowedError
from ._exceptions import NotFoundError as NotFoundError
from ._exceptions import ReadError as ReadError
from ._exceptions import RequestTimeoutError as RequestTimeoutError
from ._exceptions import ServerError as ServerError
from ._exceptions import SSEProtocolError as SSEProtocolError
from ._exceptions import StreamApiError as StreamApiError
from ._exceptions import StreamError as StreamError
from ._exceptions import TextNotKeptError as TextNotKeptError
from ._exceptions import TLSError as TLSError
from ._exceptions import TooManyRequestsError as TooManyRequestsError
from ._exceptions import TotalTimeoutError as TotalTimeoutError
from ._exceptions import TransportError as TransportError
from ._exceptions import UnexpectedResponseError as UnexpectedResponseError
from ._exceptions import UnsupportedProductError as UnsupportedProductError
from ._exceptions import UsageError as UsageError
from ._exceptions import WrongEventLoopError as WrongEventLoopError
from ._fanout import AsCompleted as AsCompleted
from ._fanout import MergedStreams as MergedStreams
from ._fanout import merge_streams as merge_streams
from ._inputs import ContentItem as ContentItem
from ._inputs import EmbeddingContent as EmbeddingContent
from ._models import AssistantMessage as AssistantMessage
from ._models import ChatChoice as ChatChoice
from ._models import ChatCompletionChunk as ChatCompletionChunk
from ._models import ChatCompletionMessage as ChatCompletionMessage
from ._models import ChatDelta as ChatDelta
from ._models import CompletionResult as CompletionResult
from ._models import CompletionTokensDetails as CompletionTokensDetails
from ._models import EmbeddingKind as EmbeddingKind
from ._models import EmbeddingResult as EmbeddingResult
from ._models import FunctionCall as FunctionCall
from ._models import FunctionCallDelta as FunctionCallDelta
from ._models import InferenceResult as InferenceResult
from ._models import PromptTokensDetails as PromptTokensDetails
from ._models import RerankHit as RerankHit
from ._models import RerankResult as RerankResult
from ._models import SparseEmbedding as SparseEmbedding
from ._models import SparseEmbeddingResult as SparseEmbeddingResult
from ._models import SystemMessage as SystemMessage
from ._models import TextEmbeddingResult as TextEmbeddingResult
from ._models import TextPart as TextPart
from ._models import Tool as Tool
from ._models import ToolCall as ToolCall
from ._models import ToolCallDelta as ToolCallDelta
from ._models import ToolMessage as ToolMessage
from ._models import Usage as Usage
from ._models import UserMessage as UserMessage
from ._models_chat_completion import ChatCompletion as ChatCompletion
from ._models_chat_completion import ChatCompletionChoice as ChatCompletionChoice
from ._models_endpoints import CspRegion as CspRegion
from ._models_endpoints import DeleteEndpointResult as DeleteEndpointResult
from ._models_endpoints import EndpointInfo as EndpointInfo
from ._models_endpoints import RegionPolicy as RegionPolicy
from ._models_endpoints import RegionPolicyInfo as RegionPolicyInfo
from ._models_endpoints import ServiceInfo as ServiceInfo
from ._stream import ChatCompletionStream as ChatCompletionStream
from ._stream import CompletionStream as CompletionStream
from ._stream import StreamState as StreamState
from ._stream import StreamStats as StreamStats
from ._version import __version__ as __version__

__all__ = [
    "ApiError",
    "AsCompleted",
    "AssistantMessage",
    "AsyncInferError",
    "AuthenticationError",
    "AuthorizationError",
    "BadRequestError",
    "ChatChoice",
    "ChatCompletion",
    "ChatCompletionChoice",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "ChatCompletionStream",
    "ChatDelta",
    "ClientClosedError",
    "CompletionResult",
    "CompletionStream",
    "CompletionTokensDetails",
    "ConflictError",
    "ConnectError",
    "ConnectTimeoutError",
    "ContentItem",
    "CspRegion",
    "DeleteEndpointResult",
    "EmbeddingContent",
    "EmbeddingKind",
    "EmbeddingResult",
    "EndpointInfo",
    "FilePart",
    "FirstEventTimeoutError",
    "FunctionCall",
    "FunctionCallDelta",
    "IdleTimeoutError",
    "ImagePart",
    "IncompleteStreamError",
    "InferenceClient",
    "InferenceResult",
    "InvalidRequestError",
    "InvalidTypeError",
    "Limits",
    "MergedStreams",
    "MethodNotAllowedError",
    "NotFoundError",
    "PromptTokensDetails",
    "ReadError",
    "ReasoningDetail",
    "RegionPolicy",
    "RegionPolicyInfo",
    "RequestTimeoutError",
    "RerankHit",
    "RerankResult",
    "RetryPolicy",
    "SSEProtocolError",
    "ServerError",
    "ServiceInfo",
    "SparseEmbedding",
    "SparseEmbeddingResult",
    "StreamApiError",
    "StreamError",
    "StreamState",
    "StreamStats",
    "SystemMessage",
    "TLSError",
    "TextEmbeddingResult",
    "TextNotKeptError",
    "TextPart",
    "Timeouts",
    "TooManyRequestsError",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolMessage",
    "TotalTimeoutError",
    "TransportError",
    "UnexpectedResponseError",
    "UnsupportedProductError",
    "Usage",
    "UsageError",
    "UserMessage",
    "WrongEventLoopError",
    "__version__",
    "merge_streams",
]

# Exported classes present themselves as asyncinfer.X, their public home.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
