"""What each Elasticsearch release does differently, as one table of flags (a :class:`Profile`).

The emulator reproduces one release at a time: ``ElasticsearchEmulator(version=...)`` turns the
version string into a :class:`Profile` with :func:`profile_for`, and the handlers read its
flags. Every fact below was read in Elasticsearch's sources or PR threads; the line beside it
says where. Releases before 8.16 (no ``_stream`` API) are not reproduced.

Flag by flag (the releases that have it, and what it changes):

- ``task_types``: ``chat_completion`` from 8.18, ``embedding`` from 9.4; any other value is a
  400 ``Unknown task_type [x]``.
- ``update_api`` (8.17+): ``PUT …/_update`` exists. ``services_api`` (8.18+):
  ``GET _inference/_services`` exists. A missing route answers as ES answers any unknown one.
- ``proxy_parsing`` (8.18+): the proxy action parses the body, so parse errors on ``_stream``
  are SSE ``event: error`` bodies; before, the REST handler's were plain JSON.
- ``legacy_stream_errors`` (8.16-8.17): SSE errors keep ``caused_by`` inside ``root_cause``.
- ``stream_product_header`` (all but 8.16.0-8.16.2 and 8.17.0): streams carry
  ``X-elastic-product``.
- ``reasoning_fields`` (9.4+): chat ``reasoning`` and ``reasoning_details`` are accepted.
- ``region_policy`` (9.5+) and ``non_streaming_chat`` (9.6+): for the routes of those APIs.
- ``embedding_content_groups``, ``rerank_objects``, ``update_chunking_settings`` (9.5+): the
  request shapes of those releases.
"""

from __future__ import annotations

import re
from typing import Final

import attrs

__all__: list[str] = []  # private module: handlers use profile_for and Profile


# TaskType enum order (ES writes EnumSets in this order); "any" is accepted in URLs only.
_BASE_TASK_TYPES: Final = ("text_embedding", "sparse_embedding", "rerank", "completion")

_OLDEST: Final = (8, 16)  # the first release with the _stream API (ES PR #113158)

# ES issue #119000: these releases' _stream answers often lacked X-elastic-product.
_NO_STREAM_PRODUCT_HEADER: Final = frozenset({(8, 16, 0), (8, 16, 1), (8, 16, 2), (8, 17, 0)})

_VERSION: Final = re.compile(r"(\d+)\.(\d+)\.(\d+)")


@attrs.frozen(kw_only=True)
class Profile:
    """The Inference API behaviour of one Elasticsearch release; see the module's table.

    Attributes:
        version: the release, ``"X.Y.Z"``.
        task_types: the TaskType values the release parses, in enum order, ``"any"`` last.
        update_api: ``PUT _inference/[{task_type}/]{id}/_update`` exists.
        services_api: ``GET _inference/_services[/{task_type}]`` exists.
        proxy_parsing: the inference body is parsed in the transport (proxy) action, after the
            REST layer: parse errors on ``_stream`` are SSE ``event: error`` bodies. Before
            that the REST handler parsed it and its errors were plain JSON.
        legacy_stream_errors: SSE error bodies are built by the 8.16-8.17 listener, which
            renders each root cause with its ``caused_by``.
        stream_product_header: a 200 ``_stream`` answer carries ``X-elastic-product``.
        reasoning_fields: chat messages and requests may carry ``reasoning`` fields.
        region_policy: the region policy API exists.
        non_streaming_chat: ``chat_completion`` answers without ``_stream``.
        embedding_content_groups: several items in one embedding ``content`` object.
        rerank_objects: rerank ``query`` and ``input`` may be objects (text items).
        update_chunking_settings: ``_update`` accepts ``chunking_settings``.
        inference_parser: the name of the strict inference body parser, quoted in its
            "unknown field" errors.
        minimum_wire_compatibility_version: shown by ``GET /``.
        minimum_index_compatibility_version: shown by ``GET /``.
    """

    version: str
    task_types: tuple[str, ...]
    update_api: bool
    services_api: bool
    proxy_parsing: bool
    legacy_stream_errors: bool
    stream_product_header: bool
    reasoning_fields: bool
    region_policy: bool
    non_streaming_chat: bool
    embedding_content_groups: bool
    rerank_objects: bool
    update_chunking_settings: bool
    inference_parser: str
    minimum_wire_compatibility_version: str
    minimum_index_compatibility_version: str

    @property
    def major(self) -> int:
        """The major version: it decides the accepted ``compatible-with`` versions."""
        return int(self.version.split(".")[0])

    def since(self, task_type: str) -> str | None:
        """The first release that knows ``task_type`` (for error messages), or None."""
        return {"chat_completion": "8.18.0", "embedding": "9.4.0"}.get(task_type)


def profile_for(version: str) -> Profile:
    """The :class:`Profile` of Elasticsearch ``version`` (``"X.Y.Z"``, 8.16.0 or later).

    Releases newer than the last one described behave like it.

    Raises:
        ValueError: the string is not ``X.Y.Z``, or the release is older than 8.16.0.
    """
    match = _VERSION.fullmatch(version)
    if match is None:
        raise ValueError(f"version must look like '9.2.0', got {version!r}")
    major, minor, patch = (int(part) for part in match.groups())
    release = (major, minor)
    if release < _OLDEST:
        raise ValueError(
            f"the emulator reproduces Elasticsearch 8.16.0 and later (the first with the "
            f"_stream API), got {version!r}"
        )
    task_types = list(_BASE_TASK_TYPES)
    if release >= (8, 18):  # TaskType.CHAT_COMPLETION, ES PR #121006
        task_types.append("chat_completion")
    if release >= (9, 4):  # TaskType.EMBEDDING (spec embedding/EmbeddingRequest.ts, 9.4)
        task_types.append("embedding")
    return Profile(
        version=version,
        task_types=(*task_types, "any"),
        update_api=release >= (8, 17),  # spec update/UpdateInferenceRequest.ts: since 8.17.0
        # Added to 8.x in Oct 2024, removed from 8.17 before release (ES PR #116958 "Hide
        # inference services API"), enabled again for 8.18 (ES PR #120058).
        services_api=release >= (8, 18),
        # InferenceActionProxy (ES PR #121804) arrived with chat_completion in 8.18/9.0.
        proxy_parsing=release >= (8, 18),
        # ServerSentEventsRestActionListener.errorChunk of 8.16-8.17 renders root causes with
        # the request's params; 8.18 uses generateFailureXContent (REST_EXCEPTION_SKIP_CAUSE).
        legacy_stream_errors=release < (8, 18),
        # Fixed by ES PR #118999, backported to 8.16 (#119223) and 8.17 (#119222) on
        # 2025-01-07: first released in 8.16.3 and 8.17.1 (derived from the dates).
        stream_product_header=(major, minor, patch) not in _NO_STREAM_PRODUCT_HEADER,
        reasoning_fields=release >= (9, 4),  # spec RequestChatCompletion.reasoning: 9.4+
        region_policy=release >= (9, 5),  # spec get_region_policy (PY HEAD), ES 9.5
        non_streaming_chat=release >= (9, 6),  # ES PR #158022
        # Spec: "available in Elasticsearch 9.5.0 and later" for several content items.
        embedding_content_groups=release >= (9, 5),
        # RerankRequest objects (InferenceString); not pinned by the spec, ±1 minor.
        rerank_objects=release >= (9, 5),
        # update's timeout is 9.5 (spec); chunking_settings came with it (not pinned).
        update_chunking_settings=release >= (9, 5),
        # InferenceAction.NAME, the ObjectParser's name: "cluster:monitor/xpack/inference"
        # until the proxy took that privilege's place and it became internal (PR #121804).
        inference_parser=(
            "cluster:internal/xpack/inference"
            if release >= (8, 18)
            else "cluster:monitor/xpack/inference"
        ),
        # RestMainAction: 8.x nodes talk to 7.17 (docs rest-api-root example); 9.x to 8.19.
        minimum_wire_compatibility_version="7.17.0" if major == 8 else f"{major - 1}.19.0",
        minimum_index_compatibility_version=f"{major - 1}.0.0",
    )
