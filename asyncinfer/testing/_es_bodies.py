"""The request bodies of the 9.4-9.6 APIs, parsed as Elasticsearch's strict parsers do.

``EmbeddingRequest`` (9.4), ``RerankRequest`` with ``InferenceString`` objects (9.5), the region
policy (9.5) and the update body (chunking settings, 9.5). They use ``_es_models``'s
ObjectParser stand-in; :func:`_failure_error` renders a failure with its ``caused_by`` chain as
ES's standard envelope does (``generateThrowableXContent``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any, Final

import attrs

from ._es_errors import (
    _error,
    _EsError,
    _java_str,
    _validation_error,
)
from ._es_models import (
    _TASK_TYPES,
    _load_json,
    _parse_settings_body,
    _parse_task_type,
)
from ._object_parser import (
    _BOOLEAN,
    _NUMBER,
    _OBJECT,
    _OBJECT_ARRAY,
    _STRING,
    _STRING_ARRAY,
    _Field,
    _long,
    _Node,
    _object,
    _object_array,
    _parse_object,
    _ParseFailure,
    _raw,
    _scan,
    _string_array,
    _text,
)
from ._request_body import _INPUT_TYPES

__all__: list[str] = []  # private module


class _Illegal(ValueError):
    """An IllegalArgumentException raised while parsing (rendered with its type)."""


def _cause(exc: BaseException | None) -> dict[str, Any] | None:
    if isinstance(exc, _ParseFailure):
        inner: dict[str, Any] = {"type": exc.error_type, "reason": exc.message}
        caused_by = _cause(exc.cause)
        if caused_by is not None:
            inner["caused_by"] = caused_by
        return inner
    if isinstance(exc, _Illegal):
        return {"type": "illegal_argument_exception", "reason": str(exc)}
    return None  # a converter's plain ValueError: ES's Java type is not modelled


def _failure_error(failure: _ParseFailure) -> _EsError:
    """The standard envelope of a parse failure, 400, with its causes (§5.1)."""
    return _error(400, failure.error_type, failure.message, _cause(failure.cause))


def _parse(body: bytes, name: str, fields: dict[str, _Field]) -> dict[str, Any]:
    """Parse a whole body (valid JSON) with a strict parser.

    Raises:
        _EsError: the parse failure, rendered.
    """
    _load_json(body)  # malformed JSON: Jackson's error first
    try:
        return _parse_object(_scan(body), name, fields)
    except _ParseFailure as failure:
        raise _failure_error(failure) from None


# --- InferenceString: {"type", "format"?, "value"} ---------------------------------------------

# DataType / DataFormat as 9.4-9.5 have them (later releases add audio, video, pdf, reference);
# each type's one supported format is its default.
_DATA_TYPES: Final = {"text": "text", "image": "base64"}
_DATA_FORMATS: Final = ("text", "base64")
# InferenceString.DATA_URI_PATTERN, checked on the first 256 characters.
_DATA_URI: Final = re.compile(r"^data:[^/]+/[^,]+;base64,")


def _enum(node: _Node, values: Any, what: str) -> str:
    # DataType.fromString / DataFormat.fromString; Arrays.toString of the lower-case names.
    value = _text(node)
    if value.strip().lower() not in values:
        raise _Illegal(f"Unrecognized {what} [{value}], must be one of [{', '.join(values)}]")
    return value.strip().lower()


_INFERENCE_STRING: Final = {
    "type": _Field(_STRING, lambda node: _enum(node, tuple(_DATA_TYPES), "type"), required=True),
    "format": _Field(_STRING, lambda node: _enum(node, _DATA_FORMATS, "format")),
    "value": _Field(_STRING, _text, required=True),
}


@attrs.frozen
class _Item:
    type: str
    value: str


def _inference_string(node: _Node) -> _Item:
    """InferenceString.PARSER, then its constructor's checks (type/format, data URI)."""
    fields = _parse_object(node, "InferenceString", _INFERENCE_STRING)
    data_type, value = fields["type"], fields["value"]
    data_format = fields.get("format") or _DATA_TYPES[data_type]
    problem = None
    if data_format != _DATA_TYPES[data_type]:
        problem = (
            f"Data type [{data_type}] does not support data format [{data_format}], supported "
            f"formats are [{_DATA_TYPES[data_type]}]"
        )
    elif data_format == "base64" and not _DATA_URI.match(value[:256]):
        problem = (
            "base64 inputs must be specified as data URIs with the format "
            "[data:{MIME-type};base64,...]"
        )
    if problem is not None:
        # ConstructingObjectParser builds the object at END_OBJECT (derived from its source).
        raise _ParseFailure(
            node.end,
            "Failed to build [InferenceString] after last required field arrived",
            cause=_Illegal(problem),
        )
    return _Item(data_type, value)


def _unsupported(node: _Node) -> _ParseFailure:
    # XContentParseException("Unsupported token [...]"), thrown without a location.
    return _ParseFailure(node.start, f"Unsupported token [{node.kind}]")


# --- EmbeddingRequest (9.4+) ----------------------------------------------------------------------


def _group(node: _Node, *, groups: bool) -> list[_Item]:
    """InferenceStringGroup.parse: a string, or {"content": item | [items]} (lists 9.5+)."""
    if node.kind == "VALUE_STRING":
        return [_Item("text", _text(node))]
    if node.kind != "START_OBJECT":
        raise _unsupported(node)
    content = (
        _Field(_OBJECT_ARRAY, lambda n: [_inference_string(i) for i in _objects(n)], True)
        if groups
        else _Field(_OBJECT, lambda n: [_inference_string(n)], True)
    )
    return list(_parse_object(node, "InferenceStringGroup", {"content": content})["content"])


def _objects(node: _Node) -> tuple[_Node, ...]:
    return (node,) if node.kind == "START_OBJECT" else node.items


def _input_type(node: _Node) -> str:
    # InputType.fromString refuses other names (its wording is not modelled: no caused_by).
    value = _text(node).strip().lower()
    if value not in _INPUT_TYPES:
        raise ValueError(value)
    return value


def _embedding_fields(groups: bool) -> dict[str, _Field]:
    def inputs(node: _Node) -> list[list[_Item]]:
        if node.kind == "START_ARRAY":
            return [_group(item, groups=groups) for item in node.items]
        return [_group(node, groups=groups)]

    return {
        "input": _Field(("START_OBJECT", "START_ARRAY", "VALUE_STRING"), inputs, required=True),
        "input_type": _Field(_STRING, _input_type),
        # The specification's RequestEmbedding has task_settings; EmbeddingRequest.PARSER as
        # read did not declare it (an emulator's choice to accept it).
        "task_settings": _Field(_OBJECT, _raw),
    }


@attrs.frozen
class _EmbeddingBody:
    texts: list[str]  # one text per group: its items' values joined, for the model
    input_type: str | None
    task_settings: dict[str, Any] | None


def _parse_embedding_body(body: bytes, *, groups: bool) -> _EmbeddingBody:
    """EmbeddingRequest.PARSER, then EmbeddingAction.Request.validate.

    Raises:
        _EsError: 400, as ES reports it.
    """
    fields = _parse(body, "EmbeddingRequest", _embedding_fields(groups))
    if not fields["input"]:
        raise _validation_error("Field [inputs] cannot be an empty array")
    texts = ["\n".join(item.value for item in group) for group in fields["input"]]
    return _EmbeddingBody(texts, fields.get("input_type"), fields.get("task_settings"))


# --- RerankRequest (9.5+) ------------------------------------------------------------------------


def _rerank_item(node: _Node, field: str, supported: tuple[str, ...]) -> _Item:
    """RerankRequest.parseStringOrObject."""
    if node.kind == "VALUE_STRING":
        return _Item("text", _text(node))
    if node.kind != "START_OBJECT":
        raise _unsupported(node)
    item = _inference_string(node)
    if item.type not in supported:
        raise _ParseFailure(
            node.end,
            f"Field [{field}] contains unsupported [type] value [{item.type}]. Supported values "
            f"are [{', '.join(supported)}]",
        )
    return item


def _rerank_inputs(node: _Node) -> list[_Item]:
    nodes = node.items if node.kind == "START_ARRAY" else (node,)
    return [_rerank_item(n, "input", ("text", "image")) for n in nodes]


_RERANK_FIELDS: Final = {
    "input": _Field(("START_OBJECT", "START_ARRAY", "VALUE_STRING"), _rerank_inputs, True),
    "query": _Field(
        ("START_OBJECT", "VALUE_STRING"), lambda n: _rerank_item(n, "query", ("text",)), True
    ),
    "top_n": _Field(_NUMBER, _long),
    "return_documents": _Field(_BOOLEAN, lambda n: n.value in (True, "true")),
    "task_settings": _Field(_OBJECT, _raw),
}


def _parse_rerank_body(body: bytes) -> dict[str, Any]:
    """RerankRequest.PARSER, then RerankAction.Request.validate (errors accumulate).

    Returns:
        input (texts), query (text), top_n, return_documents, task_settings.

    Raises:
        _EsError: 400, as ES reports it.
    """
    fields = _parse(body, "RerankRequest", _RERANK_FIELDS)
    problems = []
    if not fields["input"]:
        problems.append("Field [input] cannot be an empty array")
    if not fields["query"].value:
        problems.append("Field [query] cannot be empty")
    top_n = fields.get("top_n")
    if top_n is not None and top_n < 1:
        problems.append("Field [top_n] must be greater than or equal to 1")
    if problems:
        raise _validation_error(*problems)
    return {
        "input": [item.value for item in fields["input"]],
        "query": fields["query"].value,
        "top_n": top_n,
        "return_documents": fields.get("return_documents"),
        "task_settings": fields.get("task_settings"),
    }


# --- the region policy (9.5+) --------------------------------------------------------------------

_CSP_REGION: Final = {
    "csp": _Field(_STRING, _text, required=True),
    "region": _Field(_STRING, _text, required=True),
}
_REGION_POLICY_FIELDS: Final = {
    "allowed_geos": _Field(_STRING_ARRAY, _string_array),
    "allowed_regions": _Field(_OBJECT_ARRAY, _object_array("csp_region", _CSP_REGION)),
    "fallback_region": _Field(_OBJECT, _object("csp_region", _CSP_REGION)),
}


def _region_policy(node: _Node) -> dict[str, Any]:
    fields = _parse_object(node, "region_policy", _REGION_POLICY_FIELDS)
    # declareExclusiveFieldSet: ObjectParser lists the fields in document order, then a space.
    present = [key for key, _, _ in node.fields if key in ("allowed_geos", "allowed_regions")]
    if len(present) > 1:
        message = f"The following fields are not allowed together: [{', '.join(present)}] "
        raise _ParseFailure(node.end, message, "illegal_argument_exception")
    # RegionPolicy.toXContent's order.
    return {key: fields[key] for key in _REGION_POLICY_FIELDS if key in fields}


def _parse_region_policy_body(body: bytes) -> dict[str, Any]:
    """PutRegionPolicyAction.Request.PARSER: the ``region_policy`` object.

    Raises:
        _EsError: 400, as ES reports it.
    """
    fields = _parse(
        body,
        "put_region_policy_request",
        {"region_policy": _Field(_OBJECT, _region_policy, required=True)},
    )
    policy: dict[str, Any] = fields["region_policy"]
    return policy


def _validate_region_policy(policy: dict[str, Any]) -> None:
    """PutRegionPolicyAction.Request.validate: regions first, then geos.

    Raises:
        _EsError: 400 action_request_validation_exception.
    """
    problems = [
        f"[region_policy.{key}] must not be empty"
        for key in ("allowed_regions", "allowed_geos")
        if policy.get(key) == []
    ]
    if problems:
        raise _validation_error(*problems)


# --- the update body (§7.4) ----------------------------------------------------------------------


@attrs.frozen
class _UpdateBody:
    service_settings: dict[str, Any] | None
    task_settings: dict[str, Any] | None
    chunking_settings: dict[str, Any] | None
    task_type: str | None


def _update_settings(
    body: bytes, known: Collection[str] = _TASK_TYPES, *, chunking: bool
) -> _UpdateBody:
    """UpdateInferenceModelAction.Request.getContentAsSettings.

    ``known``: the release's task types; ``chunking`` accepts ``chunking_settings`` (9.5+
    wording for its error).

    Raises:
        _EsError: the body is empty, malformed, or has fields that cannot be updated.
    """
    content = _parse_settings_body(body)
    if not content:
        raise _error(400, "status_exception", "Request body is empty")
    task_type = None
    if "task_type" in content:
        value = content["task_type"]
        if not isinstance(value, str):
            raise _error(
                500,
                "status_exception",
                f"Failed to parse [task_type] in update request [{_java_str(content)}]",
            )
        task_type = _parse_task_type(value, known)
        del content["task_type"]
    updates: dict[str, dict[str, Any] | None] = {}
    keys = [("service_settings", "service settings"), ("task_settings", "task settings")]
    if chunking:
        keys.append(("chunking_settings", "[chunking_settings]"))
    for key, what in keys:
        value = content.get(key)
        if key in content and not isinstance(value, dict):
            raise _error(
                400,
                "status_exception",
                f"Unable to parse {what} in the request [{_java_str(content)}]",
            )
        updates[key] = content.pop(key, None) or None
    if content:
        raise _error(
            400,
            "status_exception",
            "Request contained fields which cannot be updated, remove these fields and try "
            f"again [{_java_str(content)}]",
        )
    return _UpdateBody(
        updates["service_settings"],
        updates["task_settings"],
        updates.get("chunking_settings"),
        task_type,
    )
