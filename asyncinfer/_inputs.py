"""Multimodal inputs: text or images for ``embedding`` (9.4+) and ``rerank`` (9.5+), sans I/O.

Elasticsearch reads an item as ``{"type": "text"|"image", "format"?: "text"|"base64",
"value": ...}`` (``InferenceString``); an image is a base64 data URI. The ``embedding`` task wraps
the items of one input in ``{"content": item | [item, ...]}`` (``InferenceStringGroup``: one
vector per group; several items in a group need 9.5); ``rerank`` takes bare items.
Plain strings stay plain strings on the wire, so text-only calls work on every release.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ._exceptions import InvalidRequestError

__all__ = ["ContentItem", "EmbeddingContent", "embedding_inputs", "rerank_inputs", "rerank_query"]

# InferenceString.DATA_URI_PATTERN: what Elasticsearch accepts as a base64 value.
_DATA_URI = re.compile(r"^data:[^/]+/[^,]+;base64,")


@attrs.frozen
class ContentItem:
    """One piece of an input: text, or an image given as a base64 data URI.

    Build it with :meth:`text` or :meth:`image`; ``ContentItem(type, value, format)`` takes
    any type Elasticsearch may know.

    Attributes:
        type: ``"text"`` or ``"image"``.
        value: The text, or ``"data:<mime type>;base64,<data>"``.
        format: ``"text"`` or ``"base64"``; ``None`` sends none (the type's default).
    """

    type: str
    value: str
    format: str | None = None

    @classmethod
    def text(cls, value: str) -> ContentItem:
        """A text item."""
        return cls("text", value)

    @classmethod
    def image(cls, data_uri: str) -> ContentItem:
        """An image item, from a data URI such as ``"data:image/png;base64,iVBOR..."``.

        Raises:
            InvalidRequestError: ``data_uri`` is not a base64 data URI (Elasticsearch would
                refuse it).
        """
        if not isinstance(data_uri, str) or not _DATA_URI.match(data_uri[:256]):
            raise InvalidRequestError(
                "an image must be a data URI like 'data:image/png;base64,...', got "
                f"{str(data_uri)[:40]!r}"
            )
        return cls("image", data_uri, "base64")

    def to_json(self) -> dict[str, str]:
        """The item as Elasticsearch reads it.

        Raises:
            InvalidRequestError: ``type``, ``value`` or ``format`` is not a string.
        """
        if not isinstance(self.type, str) or not self.type:
            raise InvalidRequestError(f"a content item's type must be a string, got {self.type!r}")
        if not isinstance(self.value, str):
            raise InvalidRequestError(
                f"a content item's value must be a string, got {type(self.value).__name__}"
            )
        item = {"type": self.type}
        if self.format is not None:
            if not isinstance(self.format, str):
                raise InvalidRequestError(f"format must be a string, got {self.format!r}")
            item["format"] = self.format
        item["value"] = self.value
        return item


def _items(value: Any) -> tuple[ContentItem, ...]:
    if isinstance(value, ContentItem):
        return (value,)
    return tuple(value)


@attrs.frozen
class EmbeddingContent:
    """Items embedded together into one vector, e.g. an image and its caption.

    One item works from Elasticsearch 9.4; several need 9.5.
    """

    items: tuple[ContentItem, ...] = attrs.field(converter=_items)

    def to_json(self) -> dict[str, Any]:
        """``{"content": item}`` for one item, ``{"content": [items]}`` for several.

        Raises:
            InvalidRequestError: No items, or an item that is not a :class:`ContentItem`.
        """
        if not self.items:
            raise InvalidRequestError("EmbeddingContent needs at least one item")
        items = [_item(item, f"content[{i}]") for i, item in enumerate(self.items)]
        return {"content": items[0] if len(items) == 1 else items}


def _item(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, ContentItem):
        return value.to_json()
    if isinstance(value, Mapping):
        if not isinstance(value.get("type"), str) or not isinstance(value.get("value"), str):
            raise InvalidRequestError(f"{where} needs a string 'type' and 'value', got {value!r}")
        return dict(value)
    raise InvalidRequestError(
        f"{where} must be a ContentItem or a mapping, got {type(value).__name__}"
    )


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def _embedding_input(value: Any, where: str) -> str | dict[str, Any]:
    if isinstance(value, str):
        if not value:
            raise InvalidRequestError(f"{where} must not be empty")
        return value
    if isinstance(value, ContentItem):
        return {"content": value.to_json()}
    if isinstance(value, EmbeddingContent):
        return value.to_json()
    if isinstance(value, Mapping):
        content = value.get("content")
        if set(value) != {"content"} or not (isinstance(content, Mapping) or _is_list(content)):
            raise InvalidRequestError(
                f"{where} must be {{'content': item or [items]}}, got {dict(value)!r}"
            )
        return dict(value)
    raise InvalidRequestError(
        f"{where} must be a string, a ContentItem, an EmbeddingContent or a mapping, "
        f"got {type(value).__name__}"
    )


def embedding_inputs(value: Any) -> str | list[Any] | dict[str, Any]:
    """``input`` of an ``embedding`` request: one input, or a non-empty list of them.

    Raises:
        InvalidRequestError: Anything else, named.
    """
    if not _is_list(value):
        return _embedding_input(value, "input")
    if not value:
        raise InvalidRequestError("input must not be an empty list")
    return [_embedding_input(v, f"input[{i}]") for i, v in enumerate(value)]


def rerank_query(value: Any) -> str | dict[str, Any]:
    """``query`` of a rerank request: a string, or (9.5+) a text item.

    Raises:
        InvalidRequestError: An empty query or another type.
    """
    if isinstance(value, str):
        if not value:
            raise InvalidRequestError("query must be a non-empty string")
        return value
    if isinstance(value, ContentItem | Mapping):
        return _item(value, "query")
    raise InvalidRequestError(
        f"query must be a string or a ContentItem, got {type(value).__name__}"
    )


def rerank_inputs(value: Any) -> list[Any]:
    """``input`` of a rerank request: strings, or (9.5+) items, in a non-empty list.

    Raises:
        InvalidRequestError: One string instead of a list, an empty list, or another type.
    """
    if isinstance(value, str):
        raise InvalidRequestError("documents must be a list of strings, not one string")
    if not _is_list(value) or not value:
        raise InvalidRequestError(f"documents must be a non-empty list, got {value!r}")
    documents: list[Any] = []
    for i, document in enumerate(value):
        where = f"documents[{i}]"
        if isinstance(document, str):
            documents.append(document)
        elif isinstance(document, ContentItem | Mapping):
            documents.append(_item(document, where))
        else:
            raise InvalidRequestError(
                f"{where} must be a string or a ContentItem, got {type(document).__name__}"
            )
    return documents
