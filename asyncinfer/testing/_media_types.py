"""Accept / Content-Type rules: compatible-with versions (§2.2) and the 406 check."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from multidict import CIMultiDictProxy

from ._es_errors import (
    _error,
    _EsError,
    _simple_error,
)

# Media types RestController accepts as a request Content-Type (XContentType registry).
_XCONTENT_TYPES: Final = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/*",
        "application/smile",
        "application/yaml",
        "application/cbor",
        "application/vnd.elasticsearch+json",
        "application/vnd.elasticsearch+x-ndjson",
        "application/vnd.elasticsearch+smile",
        "application/vnd.elasticsearch+yaml",
        "application/vnd.elasticsearch+cbor",
    }
)

if TYPE_CHECKING:
    from ._exchange import _Exchange


# RestController.SAFELISTED_MEDIA_TYPES: refused to prevent CSRF.
_SAFELISTED_TYPES: Final = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)


_TCHAR: Final = re.compile(r"[a-zA-Z0-9!#$%&'*+\-.^_`|~]+")  # RFC 7230 tchar, as in RestRequest


class _MediaTypeError(Exception):
    def __init__(self, cause_type: str, message: str) -> None:
        super().__init__(message)
        self.cause_type = cause_type
        self.message = message


def _parse_media_type(value: str) -> tuple[str, dict[str, str]] | None:
    """ParsedMediaType.parseMediaType: None for media ranges; raises on malformed values."""
    if "," in value or value == "*/*":
        return None
    elements = re.split(r"[\s\t]*;", value.lower())
    parts = elements[0].split("/")
    if not (
        len(parts) == 2
        and _TCHAR.fullmatch(parts[0].strip())
        and _TCHAR.fullmatch(parts[1].strip())
    ):
        raise _MediaTypeError("illegal_argument_exception", f"invalid media-type [{value}]")
    params: dict[str, str] = {}
    for element in elements[1:]:
        element = element.strip()
        if not element:
            continue
        pair = element.split("=")
        if len(pair) != 2 or not pair[0] or pair[0][-1].isspace() or not pair[1]:
            raise _MediaTypeError(
                "illegal_argument_exception", f"invalid parameters for header [{value}]"
            )
        if pair[1][0].isspace():
            raise _MediaTypeError(
                "illegal_argument_exception", f"invalid parameters for header [{value}]"
            )
        params[pair[0].strip()] = pair[1].strip()
    return f"{parts[0].strip()}/{parts[1].strip()}", params


def _header_media_type(
    headers: CIMultiDictProxy[str], name: str
) -> tuple[str, tuple[str, dict[str, str]] | None] | None:
    values = headers.getall(name, [])
    if not values:
        return None
    if len(values) > 1:
        raise _MediaTypeError(
            "illegal_argument_exception",
            f"Incorrect header [{name}]. Only one value should be provided",
        )
    if not values[0].strip():
        raise _MediaTypeError("illegal_argument_exception", f"Header [{name}] cannot be empty.")
    return values[0], _parse_media_type(values[0])


def _version_of(parsed: tuple[str, dict[str, str]] | None) -> int | None:
    if parsed is None or "compatible-with" not in parsed[1]:
        return None
    raw = parsed[1]["compatible-with"]
    if not re.fullmatch(r"[+-]?\d+", raw) or not -128 <= int(raw) <= 127:
        # Byte.parseByte fails; ES lets the NumberFormatException escape (edge case).
        raise _MediaTypeError("number_format_exception", f'For input string: "{raw}"')
    return int(raw)


def check_media_types(exchange: _Exchange, major: int) -> None:
    """RestRequest + RestCompatibleVersionHelper (§2.2): 400 media_type_header_exception."""
    headers = exchange.record.headers
    has_content = bool(exchange.record.body)
    failed = "Accept"
    try:
        accept = _header_media_type(headers, "Accept")
        failed = "Content-Type"
        content_type = _header_media_type(headers, "Content-Type")
        failed = "Accept, Content-Type"
        accept_parsed = accept[1] if accept else None
        content_parsed = content_type[1] if content_type else None
        a_version = _version_of(accept_parsed)
        c_version = _version_of(content_parsed)
    except _MediaTypeError as err:
        raise _media_type_error(failed, err.cause_type, err.message) from None
    current, minimum = major, major - 1
    accept_text = accept[0] if accept and accept_parsed else "null"
    content_text = content_type[0] if content_type and content_parsed else "null"
    accept_version = current if a_version is None else a_version
    content_version = current if c_version is None else c_version
    message = None
    if not minimum <= accept_version <= current:
        message = (
            f"Accept version must be either version {current} or {minimum}, "
            f"but found {accept_version}. Accept={accept_text}"
        )
    elif has_content and not minimum <= content_version <= current:
        message = (
            f"Content-Type version must be either version {current} or {minimum}, "
            f"but found {content_version}. Content-Type={content_text}"
        )
    elif has_content and content_version != accept_version:
        message = (
            "A compatible version is required on both Content-Type and Accept headers if "
            "either one has requested a compatible version and the compatible versions "
            f"must match. Accept={accept_text}, Content-Type={content_text}"
        )
    elif has_content and (a_version is None) != (c_version is None):
        message = (
            "A compatible version is required on both Content-Type and Accept headers if "
            "either one has requested a compatible version. "
            f"Accept={accept_text}, Content-Type={content_text}"
        )
    if message is not None:
        # The header set's order is JVM-random in ES; this is one of its two orders.
        raise _media_type_error("Accept, Content-Type", "status_exception", message)
    # Responses use the vendor media type when the request asked for one (§2.1).
    for parsed, version in ((accept_parsed, a_version), (content_parsed, c_version)):
        if parsed is not None and version is not None and parsed[0].endswith("+json"):
            exchange.json_content_type = (
                f"application/vnd.elasticsearch+json;compatible-with={version}"
            )
            break


def _media_type_error(headers: str, cause_type: str, cause: str) -> _EsError:
    # dispatchBadRequest renders RestRequest.MediaTypeHeaderException with its cause.
    return _error(
        400,
        "media_type_header_exception",
        f"Invalid media-type value on headers [{headers}]",
        {"type": cause_type, "reason": cause},
    )


def check_content_type(exchange: _Exchange) -> None:
    """RestController.dispatchRequest: a body needs an XContent Content-Type (406)."""
    if not exchange.record.body:
        return
    values = exchange.record.headers.getall("Content-Type", [])
    if not values:
        raise _simple_error(406, "Content-Type header is missing")
    parsed = _parse_media_type(values[0])
    media_type = parsed[0] if parsed else None
    if media_type in _SAFELISTED_TYPES or media_type not in _XCONTENT_TYPES:
        raise _simple_error(406, f"Content-Type header [{','.join(values)}] is not supported")
