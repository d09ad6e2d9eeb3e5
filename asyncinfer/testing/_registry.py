"""The endpoint registry and the deterministic model that answers for each endpoint."""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

import attrs

from ._es_errors import (
    _not_found,
)
from ._es_models import (
    _DEFAULT_DIMENSIONS,
    _group,
    _prompt_text,
)
from ._services import (
    _GENERIC_SERVICE,
    _SECRET_KEYS,
    _SERVICES,
    _Service,
)
from ._wire import (
    _json,
    _sse_event,
)

# add_endpoint's defaults, also used for endpoints created with PUT.
_DEFAULT_ANSWER_TOKENS: Final = 40


_DEFAULT_DELTAS_PER_EVENT: Final = 3


# The deterministic model's vocabulary. Non-ASCII words (2-, 3- and 4-byte UTF-8) make
# write_size splits land inside multi-byte characters.
# Sentences the default model strings together, chosen by a hash of the input: plausible enough
# for a demo, and with non-ASCII words so that every stream exercises UTF-8.
_SENTENCES: Final = (
    "Elasticsearch stores documents in an index that is split into shards.",
    "Each shard is a Lucene index made of immutable segments.",
    "A query is scored for relevance, with BM25 by default.",
    "Dense vector search finds the nearest neighbours of an embedding.",
    "The inference API calls a model service and streams its answer back token by token.",
    "Replicas keep copies of every shard on other nodes of the cluster.",
    "A refresh makes recent writes visible to search within about a second.",
    "Analyzers split text into tokens, so naïve and café match their plain spellings.",
    "ELSER adds sparse vectors for semantic search without fine-tuning.",
    "Users in 日本 and Deutschland want an Überblick in their own language.",
    "Latency stays low when the mapping fits the data. 🦌",
    "Hybrid search blends lexical and semantic scores with reciprocal rank fusion.",
)


_ECHO_WORDS: Final = 3


def _default_answer(inference_id: str, text: str, tokens: int) -> list[str]:
    """A short echo of the prompt, then whole sentences drawn by SHA-256 of the input.

    At most ``tokens`` words, ending on a sentence so a demo never looks cut off: sentences
    are added while the next one fits (so at least ``tokens`` minus one sentence's length).
    Only a budget too small for any sentence is cut mid-sentence. hashlib rather than hash():
    the answer must be the same in every process and machine.
    """
    echo = []
    for word in text.split():
        printable = "".join(ch for ch in word if ch.isprintable())
        if printable:
            echo.append(printable)
        if len(echo) == _ECHO_WORDS:
            break
    seed = hashlib.sha256(f"{inference_id}\x00{text}".encode()).digest()
    words = echo[:tokens]
    counter = 0
    while len(words) < tokens:
        digest = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
        sentence = _SENTENCES[int.from_bytes(digest[:8], "big") % len(_SENTENCES)].split()
        if len(words) + len(sentence) > tokens:
            if counter == 1:  # no whole sentence fits the budget: cut the first one
                words += sentence[: tokens - len(words)]
            break
        words += sentence
    return [word if i == 0 else " " + word for i, word in enumerate(words)]


def _split_answer(answer: str) -> list[str]:
    """Split a fixed answer into word deltas, each keeping its leading whitespace."""
    parts = re.findall(r"\s*\S+", answer)
    tail = answer[len("".join(parts)) :]
    if tail:
        if parts:
            parts[-1] += tail
        else:
            parts = [tail]
    return parts


_Answer = str | Sequence[str] | Callable[[str], Sequence[str]] | None


@attrs.frozen(kw_only=True)
class _Endpoint:
    inference_id: str
    task_type: str
    service: str
    service_settings: dict[str, Any]
    task_settings: dict[str, Any]
    answer: _Answer
    answer_tokens: int
    deltas_per_event: int
    event_delay: float | None
    streaming: bool
    chunking_settings: dict[str, Any] | None = None

    def deltas(self, text: str) -> Sequence[str]:
        answer = self.answer
        if answer is None:
            return _default_answer(self.inference_id, text, self.answer_tokens)
        if isinstance(answer, str):
            return _split_answer(answer)
        if callable(answer):
            # A callable may return a lazy sequence (len + indexing); it is never copied.
            return answer(text)
        return answer

    def info(self) -> dict[str, Any]:
        # §7.1 InferenceEndpointInfo: secrets stripped, empty task_settings omitted.
        info: dict[str, Any] = {
            "inference_id": self.inference_id,
            "task_type": self.task_type,
            "service": self.service,
            "service_settings": {
                k: v for k, v in self.service_settings.items() if k not in _SECRET_KEYS
            },
        }
        if self.task_settings:
            info["task_settings"] = self.task_settings
        if self.chunking_settings is not None:
            info["chunking_settings"] = self.chunking_settings
        return info

    @property
    def service_info(self) -> _Service:
        return _SERVICES.get(self.service, _GENERIC_SERVICE)


def _input_text(value: str | Sequence[str]) -> str:
    return value if isinstance(value, str) else "\n".join(value)


def _completion_events(deltas: Sequence[str], per_event: int) -> Iterator[bytes]:
    """§4.2 events: ``{"delta":""}`` first (OpenAI's role chunk), then grouped deltas.

    Group sizes cycle 1, 2, ..., per_event so single- and multi-delta events both occur; the
    sequence is indexed lazily so a huge answer is never materialised.
    """
    yield _sse_event("message", b'{"completion":[{"delta":""}]}')
    total = len(deltas)
    start = 0
    group = 0
    while start < total:
        end = min(start + 1 + group % per_event, total)
        payload = {"completion": [{"delta": deltas[i]} for i in range(start, end)]}
        yield _sse_event("message", _json(payload))
        start = end
        group += 1


def _embedding_settings(endpoint: _Endpoint) -> tuple[int, str]:
    dimensions = endpoint.service_settings.get("dimensions")
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
        dimensions = _DEFAULT_DIMENSIONS
    element_type = endpoint.service_settings.get("element_type", "float")
    return dimensions, element_type if element_type in ("byte", "bit") else "float"


def _events(endpoint: _Endpoint, text: str) -> Iterator[bytes]:
    deltas = endpoint.deltas(text)
    if endpoint.streaming:
        return _completion_events(deltas, endpoint.deltas_per_event)
    # §3.2: a non-streaming provider gives one event with the non-streaming response.
    result = "".join(deltas[i] for i in range(len(deltas)))
    return iter([_sse_event("message", _json({"completion": [{"result": result}]}))])


def _chat_contents(endpoint: _Endpoint, messages: Sequence[Mapping[str, Any]]) -> list[str]:
    return _group(endpoint.deltas(_prompt_text(messages)), endpoint.deltas_per_event)


class _Registry:
    """The endpoints and pipeline references; thread-safe, as tests change them from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._endpoints: dict[str, _Endpoint] = {}
        self._pipelines: dict[str, set[str]] = {}
        self._region_policy: dict[str, Any] | None = None  # the stored RegionPolicyDoc

    def put(self, endpoint: _Endpoint) -> None:
        with self._lock:
            self._endpoints[endpoint.inference_id] = endpoint

    def add_new(self, endpoint: _Endpoint) -> bool:
        """Store ``endpoint`` unless its id is taken; False if it was."""
        with self._lock:
            if endpoint.inference_id in self._endpoints:
                return False
            self._endpoints[endpoint.inference_id] = endpoint
            return True

    def remove(self, inference_id: str) -> None:
        """Raises KeyError for an unknown id."""
        with self._lock:
            del self._endpoints[inference_id]

    def discard(self, inference_id: str) -> None:
        with self._lock:
            self._endpoints.pop(inference_id, None)

    def find(self, inference_id: str) -> _Endpoint | None:
        with self._lock:
            return self._endpoints.get(inference_id)

    def lookup(self, inference_id: str) -> _Endpoint:
        """Raises KeyError for an unknown id (the public API's error)."""
        with self._lock:
            return self._endpoints[inference_id]

    def get(self, inference_id: str) -> _Endpoint:
        """The endpoint, or ES's 404 ``resource_not_found_exception``."""
        endpoint = self.find(inference_id)
        if endpoint is None:
            raise _not_found(inference_id)
        return endpoint

    def all(self) -> list[_Endpoint]:
        with self._lock:
            return sorted(self._endpoints.values(), key=lambda e: e.inference_id)

    def add_pipeline(self, inference_id: str, pipeline_id: str) -> None:
        with self._lock:
            self._pipelines.setdefault(inference_id, set()).add(pipeline_id)

    def pipelines(self, inference_id: str) -> list[str]:
        with self._lock:
            return sorted(self._pipelines.get(inference_id, ()))

    def region_policy(self) -> dict[str, Any] | None:
        """The stored region policy document (RegionPolicyDoc), or None."""
        with self._lock:
            return self._region_policy

    def replace_region_policy(
        self, make: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> dict[str, Any]:
        """Store ``make(old document)``, atomically; returns the new document."""
        with self._lock:
            document = make(self._region_policy)
            self._region_policy = document
            return document

    def delete_region_policy(self) -> bool:
        """Remove the region policy; False if there was none."""
        with self._lock:
            existed, self._region_policy = self._region_policy is not None, None
            return existed
