"""Elasticsearch's parsers, the way they read and fail: a JSON scanner that keeps offsets,
and ObjectParser / ConstructingObjectParser over it.

ES reports a parse error at the parser's current token as ``[line:column]``; the scanner keeps
every token's offset so the emulator can name the same place. Pure functions of the body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
import orjson

from ._es_errors import (
    _did_you_mean,
    _location,
    _suggestions,
)

__all__: list[str] = []  # private module


# --- a JSON scanner that keeps offsets --------------------------------------------------------

_WS: Final = b" \t\r\n"


def _skip_ws(body: bytes, i: int) -> int:
    while i < len(body) and body[i] in _WS:
        i += 1
    return i


def _skip_string(body: bytes, i: int) -> int:
    """``i`` is at an opening quote; return the index after the closing quote."""
    i += 1
    while body[i] != 0x22:
        i += 2 if body[i] == 0x5C else 1
    return i + 1


def _skip_value(body: bytes, i: int) -> int:
    if body[i] == 0x22:
        return _skip_string(body, i)
    if body[i] in b"{[":
        depth = 0
        while True:
            byte = body[i]
            if byte == 0x22:
                i = _skip_string(body, i)
                continue
            if byte in b"{[":
                depth += 1
            elif byte in b"}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
    while i < len(body) and body[i] not in b",}] \t\r\n":
        i += 1
    return i


@attrs.frozen
class _Node:
    """One JSON value of a body already known to be valid, with its token offsets.

    ``kind`` is the XContentParser token name; ``end`` is the offset of the closing brace or
    bracket of a container (ES reports END_OBJECT there), else the end of the scalar.
    """

    kind: str
    start: int
    end: int
    body: bytes = attrs.field(repr=False)
    fields: tuple[tuple[str, int, _Node], ...] = ()
    items: tuple[_Node, ...] = ()

    @property
    def value(self) -> Any:
        stop = self.end + 1 if self.kind in ("START_OBJECT", "START_ARRAY") else self.end
        return orjson.loads(self.body[self.start : stop])


_SCALAR_KINDS: Final = {0x22: "VALUE_STRING", 0x74: "VALUE_BOOLEAN", 0x66: "VALUE_BOOLEAN"}


def _scan(body: bytes, i: int | None = None) -> _Node:
    """Scan the value at ``i`` (default: the document); ``body`` must be valid JSON."""
    node, _ = _scan_value(body, _skip_ws(body, 0) if i is None else i)
    return node


def _scan_value(body: bytes, i: int) -> tuple[_Node, int]:
    byte = body[i]
    if byte == 0x7B:  # {
        fields: list[tuple[str, int, _Node]] = []
        j = _skip_ws(body, i + 1)
        while body[j] != 0x7D:
            key_end = _skip_string(body, j)
            key: str = orjson.loads(body[j:key_end])
            child, after = _scan_value(body, _skip_ws(body, _skip_ws(body, key_end) + 1))
            fields.append((key, j, child))
            j = _skip_ws(body, after)
            if body[j] == 0x2C:
                j = _skip_ws(body, j + 1)
        return _Node("START_OBJECT", i, j, body, fields=tuple(fields)), j + 1
    if byte == 0x5B:  # [
        items: list[_Node] = []
        j = _skip_ws(body, i + 1)
        while body[j] != 0x5D:
            child, after = _scan_value(body, j)
            items.append(child)
            j = _skip_ws(body, after)
            if body[j] == 0x2C:
                j = _skip_ws(body, j + 1)
        return _Node("START_ARRAY", i, j, body, items=tuple(items)), j + 1
    end = _skip_value(body, i)
    kind = _SCALAR_KINDS.get(byte, "VALUE_NULL" if byte == 0x6E else "VALUE_NUMBER")
    return _Node(kind, i, end, body), end


# --- ObjectParser / ConstructingObjectParser, the way they fail --------------------------------


class _ParseFailure(Exception):
    """A parse error at the parser's current token (``offset``), as ES's message has it.

    ``cause`` is the failure it wraps (ES's ``caused_by``): another ``_ParseFailure``, or the
    ValueError a field's converter raised.
    """

    def __init__(
        self,
        offset: int,
        message: str,
        error_type: str = "x_content_parse_exception",
        cause: Exception | None = None,
    ) -> None:
        super().__init__(message)
        self.offset = offset
        self.message = message
        self.error_type = error_type
        self.cause = cause


def _at(node_or_offset: _Node | int, body: bytes) -> str:
    offset = node_or_offset if isinstance(node_or_offset, int) else node_or_offset.start
    line, column = _location(body, offset)
    return f"[{line}:{column}]"


_Convert = Callable[[_Node], Any]


@attrs.frozen
class _Field:
    """A declared field: the tokens ObjectParser.ValueType accepts and how the value is read."""

    tokens: tuple[str, ...]
    convert: _Convert
    required: bool = False


def _parse_object(node: _Node, name: str, fields: Mapping[str, _Field]) -> dict[str, Any]:
    """ObjectParser.parse for a strict parser named ``name``; first failure in document order.

    Raises:
        _ParseFailure: what ES's parser throws. A failure inside a field's value is wrapped as
            ``[l:c] [name] failed to parse field [f]`` at the failing token (parseValue).
            Missing required fields give ConstructingObjectParser's ``Required [a, b]``
            (an IllegalArgumentException, located at END_OBJECT for the wrapping parser).
    """
    body = node.body
    if node.kind != "START_OBJECT":
        # ObjectParser.throwExpectedStartObject.
        raise _ParseFailure(
            node.start, f"{_at(node, body)} Expected START_OBJECT but was: {node.kind}"
        )
    seen: dict[str, Any] = {}
    for key, key_offset, child in node.fields:
        if key in seen:
            # Jackson STRICT_DUPLICATE_DETECTION; Jackson's location suffix omitted.
            raise _ParseFailure(key_offset, f"{_at(key_offset, body)} Duplicate field '{key}'")
        spec = fields.get(key)
        if spec is None:
            message = f"{_at(key_offset, body)} [{name}] unknown field [{key}]"
            hint = _did_you_mean(_suggestions(key, set(fields)))
            raise _ParseFailure(key_offset, f"{message} {hint}" if hint else message)
        if child.kind not in spec.tokens:
            raise _ParseFailure(
                child.start,
                f"{_at(child, body)} [{name}] {key} doesn't support values of type: {child.kind}",
            )
        cause: Exception
        try:
            seen[key] = spec.convert(child)
        except _ParseFailure as inner:
            offset, cause = inner.offset, inner
        except ValueError as exc:
            offset, cause = child.start, exc
        else:
            continue
        message = f"{_at(offset, body)} [{name}] failed to parse field [{key}]"
        raise _ParseFailure(offset, message, cause=cause)
    missing = [k for k, spec in fields.items() if spec.required and k not in seen]
    if missing:
        raise _ParseFailure(
            node.end, f"Required [{', '.join(missing)}]", "illegal_argument_exception"
        )
    return seen


# ObjectParser.ValueType token sets.
_STRING: Final = ("VALUE_STRING",)
_NUMBER: Final = ("VALUE_NUMBER", "VALUE_STRING")
_BOOLEAN: Final = ("VALUE_BOOLEAN", "VALUE_STRING")
_OBJECT: Final = ("START_OBJECT",)
_OBJECT_ARRAY: Final = ("START_OBJECT", "START_ARRAY")
_STRING_ARRAY: Final = ("START_ARRAY", "VALUE_STRING")
_OBJECT_OR_STRING: Final = ("START_OBJECT", "VALUE_STRING")
_VALUE_ARRAY: Final = ("VALUE_BOOLEAN", "VALUE_NULL", "VALUE_NUMBER", "VALUE_STRING", "START_ARRAY")


def _text(node: _Node) -> str:
    value = node.value
    return value if isinstance(value, str) else str(value)


def _long(node: _Node) -> int:
    value = node.value
    if isinstance(value, str):
        return int(value.strip())  # Long.parseLong; ValueError -> "failed to parse field"
    return int(value)


def _float(node: _Node) -> float:
    return float(node.value)


def _boolean(node: _Node) -> bool:
    value = node.value
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise ValueError(value)  # Booleans.parseBoolean: only "true" or "false"


def _string_array(node: _Node) -> list[str]:
    if node.kind == "VALUE_STRING":
        return [node.value]  # ObjectParser array semantics: a single value is a list of one
    result = []
    for item in node.items:
        if item.kind in ("START_OBJECT", "START_ARRAY", "VALUE_NULL"):
            raise _ParseFailure(item.start, "not a string")
        result.append(_text(item))
    return result


def _object_array(name: str, fields: Mapping[str, _Field]) -> _Convert:
    def convert(node: _Node) -> list[dict[str, Any]]:
        items = (node,) if node.kind == "START_OBJECT" else node.items
        return [_parse_object(item, name, fields) for item in items]

    return convert


def _object(name: str, fields: Mapping[str, _Field]) -> _Convert:
    return lambda node: _parse_object(node, name, fields)


def _raw(node: _Node) -> Any:
    return node.value
