"""Type checks of the client's options, made up front so that a mistake names its option.

A wrong type raises :class:`InvalidTypeError` (an :class:`InvalidRequestError` and a
:class:`TypeError`); a right type with a wrong value raises :class:`InvalidRequestError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ._config import Limits, RetryPolicy, Timeouts
from ._exceptions import InvalidRequestError, InvalidTypeError

__all__ = [
    "check_auth",
    "check_bool",
    "check_headers",
    "check_limits",
    "check_optional",
    "check_path",
    "check_timeouts",
    "retry_policy",
]


def _got(value: object) -> str:
    return f"got {type(value).__name__} {value!r}"


def check_optional(value: Any, kind: type | tuple[type, ...], name: str, what: str) -> None:
    """``value`` is ``None`` or a ``kind``.

    Raises:
        InvalidTypeError: It is neither; the message names ``name`` and says ``what``.
    """
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise InvalidTypeError(f"{name} must be {what} or None, {_got(value)}")


def check_bool(value: Any, name: str) -> None:
    """``value`` is a bool.

    Raises:
        InvalidTypeError: It is not (``0``/``1`` included: they are usually a mistake).
    """
    if not isinstance(value, bool):
        raise InvalidTypeError(f"{name} must be a bool, {_got(value)}")


def check_path(value: Any, name: str) -> None:
    """``value`` is ``None`` or a file path (``str`` or ``os.PathLike``).

    Raises:
        InvalidTypeError: It is something else.
    """
    if value is not None and not isinstance(value, str | os.PathLike):
        raise InvalidTypeError(f"{name} must be a file path or None, {_got(value)}")


def check_headers(headers: Any) -> None:
    """``headers`` is ``None`` or a mapping of strings to strings.

    Raises:
        InvalidTypeError: It is not; the message names the offending header.
    """
    if headers is None:
        return
    if not isinstance(headers, Mapping):
        raise InvalidTypeError(f"headers must be a mapping of names to values, {_got(headers)}")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidTypeError(
                f"headers must map strings to strings, got {name!r}: {type(value).__name__}"
            )


def check_auth(api_key: Any, basic_auth: Any, bearer_auth: Any, cloud_id: Any) -> None:
    """The credentials have the shapes the client accepts.

    Raises:
        InvalidTypeError: One of them has another type; the message names it.
    """
    if api_key is not None and not isinstance(api_key, str) and not _pair(api_key):
        raise InvalidTypeError(
            f"api_key must be an encoded key (str) or an (id, api_key) pair, {_got(api_key)}"
        )
    if basic_auth is not None and not _pair(basic_auth):
        # The password is never shown.
        raise InvalidTypeError(
            "basic_auth must be a (user, password) pair of strings, got "
            f"{type(basic_auth).__name__}"
        )
    if bearer_auth is not None and not isinstance(bearer_auth, str):
        raise InvalidTypeError(f"bearer_auth must be a str, got {type(bearer_auth).__name__}")
    check_optional(cloud_id, str, "cloud_id", "a str")


def _pair(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)


def check_timeouts(timeouts: Any, name: str = "timeouts") -> Timeouts | None:
    """``timeouts`` is ``None`` or a :class:`Timeouts`.

    Raises:
        InvalidTypeError: It is something else (e.g. a number: say ``Timeouts(total=5)``).
    """
    if timeouts is not None and not isinstance(timeouts, Timeouts):
        raise InvalidTypeError(
            f"{name} must be an asyncinfer.Timeouts, e.g. Timeouts(total=30), or None, "
            f"{_got(timeouts)}"
        )
    return timeouts


def check_limits(limits: Any) -> Limits | None:
    """``limits`` is ``None`` or a :class:`Limits`.

    Raises:
        InvalidTypeError: It is something else.
    """
    if limits is not None and not isinstance(limits, Limits):
        raise InvalidTypeError(f"limits must be an asyncinfer.Limits or None, {_got(limits)}")
    return limits


def retry_policy(retries: Any) -> RetryPolicy | None:
    """``retries`` as a :class:`RetryPolicy`: a number is a count of retries.

    Raises:
        InvalidTypeError: Neither a RetryPolicy, an int nor None.
        InvalidRequestError: A negative number.
    """
    if retries is None or isinstance(retries, RetryPolicy):
        return retries
    if isinstance(retries, bool) or not isinstance(retries, int):
        raise InvalidTypeError(
            f"retries must be an asyncinfer.RetryPolicy, a number of retries or None, "
            f"{_got(retries)}"
        )
    if retries < 0:
        raise InvalidRequestError(f"retries must be >= 0, got {retries}")
    return RetryPolicy(max_retries=retries)
