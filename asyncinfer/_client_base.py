"""The base of InferenceClient's API families: settings, transport, one JSON exchange."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ._config import Limits, RetryPolicy, Timeouts
from ._exceptions import (
    ClientClosedError,
    InvalidRequestError,
    InvalidTypeError,
    UnexpectedResponseError,
)
from ._exchange import request_json
from ._models import (
    _Shape,
    message_to_json,
    parse_inference,
    tool_to_json,
)
from ._options import (
    check_timeouts,
    retry_policy,
)
from ._protocol import (
    Request,
    string_inputs,
)
from ._transport import Transport

if TYPE_CHECKING:
    pass

_R = TypeVar("_R")


__all__ = ["_ClientBase"]


class _ClientBase:
    """What every API family of :class:`InferenceClient` builds on: its settings, its
    transport, and one JSON exchange."""

    timeouts: Timeouts
    retries: RetryPolicy
    limits: Limits
    _transport: Transport

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._transport.closed

    def _check_open(self) -> None:
        if self.closed:
            raise ClientClosedError("the InferenceClient is closed; create a new one")

    async def _json(
        self,
        request: Request,
        timeouts: Timeouts | None,
        retries: RetryPolicy | int | None,
        opaque_id: str | None,
    ) -> Any:
        self._check_open()
        return await request_json(
            self._transport,
            _with_opaque_id(request, opaque_id),
            check_timeouts(timeouts) or self.timeouts,
            retry_policy(retries) or self.retries,
        )

    async def _result(
        self,
        kind: type[_R],
        request: Request,
        timeouts: Timeouts | None,
        retries: RetryPolicy | int | None,
        opaque_id: str | None,
    ) -> _R:
        body = await self._json(request, timeouts, retries, opaque_id)
        try:
            result = parse_inference(body)
        except _Shape as exc:
            raise _unexpected(request, body, str(exc)) from None
        if not isinstance(result, kind):
            raise _unexpected(request, body, f"expected a {kind.__name__} body")
        return result


def _with_opaque_id(request: Request, opaque_id: str | None) -> Request:
    if opaque_id is None:
        return request
    if not isinstance(opaque_id, str):
        raise InvalidTypeError(f"opaque_id must be a string, got {type(opaque_id).__name__}")
    return attrs.evolve(request, headers={**request.headers, "x-opaque-id": opaque_id})


def _typed(value: Any, kind: Any, name: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InvalidTypeError(f"{name} has the wrong type: {type(value).__name__}")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequestError(f"{name} must be a number, got {value!r}")
    return value


def _tool_choice(value: Any) -> Any:
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise InvalidRequestError(
                f"tool_choice must be 'auto', 'none', 'required' or a function, got {value!r}"
            )
        return value
    if isinstance(value, Mapping):
        function = value.get("function")
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise InvalidRequestError("tool_choice needs function.name")
        return {"type": value.get("type", "function"), "function": dict(function)}
    raise InvalidRequestError(f"tool_choice must be a string or a mapping, got {value!r}")


def _chat_body(
    messages: Sequence[Any],
    *,
    model: str | None,
    tools: Sequence[Any] | None,
    tool_choice: str | Mapping[str, Any] | None,
    max_completion_tokens: int | None,
    stop: str | Sequence[str] | None,
    temperature: float | None,
    top_p: float | None,
    reasoning: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The unified chat request body (spec §4.3), for a stream or a whole answer.

    Raises:
        InvalidRequestError: An argument is invalid; the message names the field.
    """
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise InvalidRequestError(
            f"messages must be a list of messages, got {type(messages).__name__}"
        )
    if not messages:
        raise InvalidRequestError("messages must not be empty")
    body: dict[str, Any] = {"messages": [message_to_json(m, i) for i, m in enumerate(messages)]}
    if model is not None:
        body["model"] = _typed(model, str, "model")
    if tools is not None:
        body["tools"] = [tool_to_json(t, i) for i, t in enumerate(tools)]
    if tool_choice is not None:
        body["tool_choice"] = _tool_choice(tool_choice)
    if max_completion_tokens is not None:
        if (
            isinstance(max_completion_tokens, bool)
            or not isinstance(max_completion_tokens, int)
            or max_completion_tokens < 1
        ):
            raise InvalidRequestError(
                f"max_completion_tokens must be a positive int, got {max_completion_tokens!r}"
            )
        body["max_completion_tokens"] = max_completion_tokens
    if stop is not None:
        body["stop"] = [stop] if isinstance(stop, str) else list(string_inputs(stop, "stop"))
    if temperature is not None:
        body["temperature"] = _number(temperature, "temperature")
    if top_p is not None:
        body["top_p"] = _number(top_p, "top_p")
    if reasoning is not None:
        body["reasoning"] = dict(_typed(reasoning, Mapping, "reasoning"))
    return body


def _body(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _field(body: Any, key: str, kind: type) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get(key), kind):
        raise _Shape(f"missing {key!r}")
    return body[key]


def _unexpected(request: Request, body: Any, why: str) -> UnexpectedResponseError:
    text = repr(body)
    return UnexpectedResponseError(
        f"unexpected answer from {request.endpoint}: {why}: {text[:200]}",
        status=200,
        content_type="application/json",
        body=text[:4096],
    )


def _parse(build: Callable[[Any], _R], request: Request, body: Any) -> _R:
    try:
        return build(body)
    except _Shape as exc:
        raise _unexpected(request, body, str(exc)) from None
