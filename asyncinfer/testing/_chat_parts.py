"""The chat message shapes of Elasticsearch 9.4+, parsed the way Elasticsearch parses them.

Multimodal content parts (``text``, ``image_url``, ``file``: ``ContentObject.fromMap``) and
the ``reasoning_details`` of an earlier assistant turn (``ReasoningDetail``'s strict parser),
both read in ES source (server/.../inference/completion/). A failure inside a message surfaces
the way every nested failure does: ``[l:c] [UnifiedCompletionRequest] failed to parse field
[messages]`` at the parser's token when it threw (``_object_parser._parse_object``), so the root
cause kept in each :class:`_ParseFailure` here never reaches the wire; it says which rule fired.
"""

from __future__ import annotations

from typing import Any, Final

from ._object_parser import (
    _NUMBER,
    _STRING,
    _VALUE_ARRAY,
    _Field,
    _long,
    _Node,
    _parse_object,
    _ParseFailure,
    _text,
)

__all__: list[str] = []  # private module

# ContentObjectType and ImageUrlDetail: valueOf(name.trim().toUpperCase()), listed lower case
# by EnumSet.toString (their toString()).
_PART_TYPES: Final = ("text", "image_url", "file")
_IMAGE_DETAILS: Final = ("auto", "low", "high")


def _content(node: _Node) -> str | list[dict[str, Any]]:
    """Message.parseContent from 9.4: a string, or an array of content objects."""
    if node.kind == "VALUE_STRING":
        return str(node.value)
    if node.kind == "START_ARRAY":
        return [_content_object(item) for item in node.items]
    raise _ParseFailure(
        node.start,
        f"Expected an array start token or a value string token but found token [{node.kind}]",
    )


def _content_object(item: _Node) -> dict[str, Any]:
    """ContentObject.fromMap(parser.map()): the map is read whole, then checked, so a failure
    is reported at the object's END_OBJECT (a value that is not an object reads as an empty
    map, and fails where it stands)."""
    if item.kind != "START_OBJECT":
        raise _ParseFailure(
            item.start, "Field [type] in object [content] is required but was not found"
        )
    part: dict[str, Any] = item.value
    problem = _part_problem(dict(part))
    if problem is not None:
        raise _ParseFailure(item.end, problem)
    return part


def _extract(fields: dict[str, Any], key: str, kind: type, where: str) -> tuple[Any, str | None]:
    """UnifiedCompletionUtils.extractRequiredFieldOfType: (the value, or what it throws)."""
    value = fields.pop(key, None)
    if value is None:
        return None, f"Field [{key}] in object [{where}] is required but was not found"
    if not isinstance(value, kind):
        return None, f"Field [{key}] in object [{where}] is not of the expected type"
    return value, None


def _unknown(fields: dict[str, Any], where: str) -> str | None:
    # throwIfNotEmptyMap: every key not extracted (null-valued ones too).
    return f"[{where}] contains unknown fields [{', '.join(fields)}]" if fields else None


def _part_problem(part: dict[str, Any]) -> str | None:
    """What ContentObject.fromMap throws for ``part`` (None: it is accepted)."""
    name, problem = _extract(part, "type", str, "content")
    if problem is not None:
        return problem
    kind = name.strip().lower()
    if kind not in _PART_TYPES:
        return (
            f"Unrecognized type [{name}] in object [content], must be one of "
            "[text, image_url, file]"
        )
    if kind == "text":
        _, problem = _extract(part, "text", str, "content")
        return problem or _unknown(part, "content")
    inner, problem = _extract(part, kind, dict, "content")  # the "image_url" or "file" map
    if problem is not None:
        return problem
    inner = dict(inner)
    problem = _image_url_problem(inner) if kind == "image_url" else _file_problem(inner)
    return problem or _unknown(part, "content")


def _image_url_problem(image: dict[str, Any]) -> str | None:
    _, problem = _extract(image, "url", str, "url")
    if problem is not None:
        return problem
    detail = image.pop("detail", None)
    if detail is not None:
        if not isinstance(detail, str):
            return "Field [detail] in object [url] is not of the expected type"
        if detail.strip().lower() not in _IMAGE_DETAILS:
            return f"Unrecognized type [{detail}] in object [url], must be one of [auto, low, high]"
    return _unknown(image, "image_url")


def _file_problem(file: dict[str, Any]) -> str | None:
    for key in ("file_data", "filename"):
        _, problem = _extract(file, key, str, "file")
        if problem is not None:
            return problem
    if "file_id" in file:  # containsKey: a null file_id is refused too
        return "Field [file_id] is not supported for content of type [file]"
    return _unknown(file, "file")


# ReasoningDetail's strict parser: every field a string but index (a long); type required.
_DETAIL_FIELDS: Final = {
    "type": _Field(_STRING, _text, required=True),
    "format": _Field(_STRING, _text),
    "id": _Field(_STRING, _text),
    "index": _Field(_NUMBER, _long),
    "data": _Field(_STRING, _text),
    "summary": _Field(_STRING, _text),
    "text": _Field(_STRING, _text),
    "signature": _Field(_STRING, _text),
}
_DETAIL_TYPES: Final = ("reasoning.encrypted", "reasoning.summary", "reasoning.text")


def _reasoning_details(node: _Node) -> list[dict[str, Any]]:
    """declareObjectArray(ReasoningDetail parser): an object or an array of objects."""
    items = (node,) if node.kind == "START_OBJECT" else node.items
    return [_reasoning_detail(item) for item in items]


def _reasoning_detail(node: _Node) -> dict[str, Any]:
    """One detail: the field checks of ObjectParser, then (at END_OBJECT) its field sets and
    the object's construction."""
    detail = _parse_object(node, "ReasoningDetail", _DETAIL_FIELDS)
    problem = _detail_problem(detail)
    if problem is not None:
        raise _ParseFailure(node.end, problem)
    return detail


def _detail_problem(detail: dict[str, Any]) -> str | None:
    bodies = [key for key in ("data", "summary", "text", "signature") if key in detail]
    # declareExclusiveFieldSet(data, summary, text) and (data, summary, signature).
    for group in (("data", "summary", "text"), ("data", "summary", "signature")):
        clash = [key for key in bodies if key in group]
        if len(clash) > 1:
            return f"The following fields are not allowed together: {clash}"
    if not bodies:  # declareRequiredFieldSet(data, summary, text, signature)
        return "Required one of fields [data, summary, text, signature], but none were specified. "
    kind = detail["type"]
    if kind not in _DETAIL_TYPES:  # ReasoningDetailType.fromString: exact match
        return (
            f"Unrecognized type [{kind}] in object [reasoning_detail_type], must be one of "
            "[reasoning.encrypted, reasoning.summary, reasoning.text]"
        )
    needs = {"reasoning.encrypted": ("data",), "reasoning.summary": ("summary",)}
    if not any(key in detail for key in needs.get(kind, ("text", "signature"))):
        # requireNonNull in the constructor, or TextReasoningDetail.validate().
        return f"a [{kind}] reasoning detail is missing its content"
    return None


# The 9.4 fields of a Message: content parts, and the reasoning of an earlier assistant turn.
_CONTENT_FIELD: Final = _Field(_VALUE_ARRAY, _content)
_REASONING_FIELD: Final = _Field(_STRING, _text)
_REASONING_DETAILS_FIELD: Final = _Field(("START_OBJECT", "START_ARRAY"), _reasoning_details)
