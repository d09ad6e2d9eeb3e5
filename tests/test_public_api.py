"""The public surface is explicit: pinned names, docstrings, and one-way layering."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import asyncinfer
import asyncinfer.notebook
import asyncinfer.sse
import asyncinfer.testing

PACKAGE = Path(asyncinfer.__file__).parent

EXPECTED = {
    "ApiError", "AsyncInferError", "AuthenticationError", "AuthorizationError",
    "BadRequestError", "ClientClosedError", "CompletionStream", "ConflictError",
    "ConnectError", "ConnectTimeoutError", "FirstEventTimeoutError", "IdleTimeoutError",
    "IncompleteStreamError", "InferenceClient", "InvalidRequestError", "MethodNotAllowedError",
    "NotFoundError", "ReadError", "RequestTimeoutError", "SSEProtocolError", "ServerError",
    "StreamApiError", "StreamError", "StreamState", "Timeouts", "TooManyRequestsError",
    "TotalTimeoutError", "TransportError", "UnexpectedResponseError", "UsageError",
    "__version__",
    "AssistantMessage", "ChatChoice", "ChatCompletionChunk", "ChatCompletionMessage",
    "ChatCompletionStream", "ChatDelta", "CompletionResult", "DeleteEndpointResult",
    "EmbeddingKind", "EndpointInfo", "FunctionCall", "FunctionCallDelta", "InferenceResult",
    "RerankHit", "RerankResult", "ServiceInfo", "SparseEmbedding", "SparseEmbeddingResult",
    "SystemMessage", "TextEmbeddingResult", "TextPart", "Tool", "ToolCall", "ToolCallDelta",
    "ToolMessage", "Usage", "UserMessage",
    "Limits", "RetryPolicy", "StreamStats", "TLSError", "UnsupportedProductError",
    "AsCompleted", "MergedStreams", "merge_streams", "TextNotKeptError",
    "InvalidTypeError", "WrongEventLoopError",
    "CompletionTokensDetails", "FilePart", "ImagePart", "PromptTokensDetails", "ReasoningDetail",
    "ChatCompletion", "ChatCompletionChoice", "ContentItem", "CspRegion", "EmbeddingContent",
    "EmbeddingResult", "RegionPolicy", "RegionPolicyInfo",
}  # fmt: skip


def test_all_is_pinned_and_sorted() -> None:
    assert set(asyncinfer.__all__) == EXPECTED
    assert asyncinfer.__all__ == sorted(asyncinfer.__all__)
    for module in (asyncinfer.sse, asyncinfer.testing, asyncinfer.notebook):
        assert module.__all__ == sorted(module.__all__)


def test_every_public_name_is_documented_and_at_home() -> None:
    for module in (asyncinfer, asyncinfer.sse, asyncinfer.testing, asyncinfer.notebook):
        for name in module.__all__:
            obj = getattr(module, name)
            if name == "__version__" or (not isinstance(obj, type) and not callable(obj)):
                continue
            if name in ("EmbeddingKind", "InferenceResult"):
                continue  # type aliases: documented where they are defined
            assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"
            if module is asyncinfer and isinstance(obj, type):
                assert obj.__module__ == "asyncinfer", name
            if isinstance(obj, type):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") or not callable(member):
                        continue
                    assert inspect.getdoc(member), f"{name}.{attr} has no docstring"


def test_error_tree() -> None:
    assert issubclass(asyncinfer.StreamApiError, asyncinfer.ApiError)
    assert issubclass(asyncinfer.StreamApiError, asyncinfer.StreamError)
    assert issubclass(asyncinfer.RequestTimeoutError, TimeoutError)
    assert issubclass(asyncinfer.InvalidRequestError, ValueError)
    assert issubclass(asyncinfer.TextNotKeptError, asyncinfer.UsageError)
    errors = {name for name in EXPECTED if name.endswith("Error")}
    assert len(errors) == 31
    assert issubclass(asyncinfer.InvalidTypeError, TypeError)
    assert issubclass(asyncinfer.InvalidTypeError, asyncinfer.InvalidRequestError)
    assert issubclass(asyncinfer.WrongEventLoopError, asyncinfer.UsageError)
    for name in errors:
        assert issubclass(getattr(asyncinfer, name), asyncinfer.AsyncInferError), name


def _imports(path: Path) -> set[str]:
    """Modules imported at run time (imports under ``if TYPE_CHECKING:`` are only for types)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            node.body = []
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_sans_io_modules_import_no_io() -> None:
    for name in ("sse", "_protocol", "_config", "_exceptions"):
        imported = _imports(PACKAGE / f"{name}.py")
        assert not imported & {"asyncio", "aiohttp", "time", "socket"}, (name, imported)


def test_only_the_transport_imports_aiohttp() -> None:
    # The emulator (asyncinfer.testing) is a server: it is built on aiohttp.web.
    checked = 0
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] in ("_transport", "testing"):
            continue
        checked += 1
        assert "aiohttp" not in _imports(path), path.name
    assert checked > 20  # the walk sees the package


def test_the_license_file_matches_pyproject() -> None:
    root = PACKAGE.parent
    text = (root / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert 'license = "Apache-2.0"' in (root / "pyproject.toml").read_text()
    # setuptools >= 77 ships LICEN[CS]E* in the wheel by default; nothing may narrow that.
    assert "license-files" not in (root / "pyproject.toml").read_text()
