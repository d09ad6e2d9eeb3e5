"""Misconfiguration fails at construction, with a typed error that names the option."""

from __future__ import annotations

from typing import Any

import pytest

import asyncinfer
from asyncinfer import (
    InferenceClient,
    InvalidRequestError,
    InvalidTypeError,
    Limits,
    RetryPolicy,
    Timeouts,
)
from asyncinfer.testing import ElasticsearchEmulator

URL = "http://127.0.0.1:9200"

BAD_CONSTRUCTOR_OPTIONS: list[tuple[str, Any]] = [
    ("timeouts", 5),
    ("retries", "3"),
    ("retries", 2.5),
    ("limits", {"connections": 1}),
    ("headers", ["x-a", "b"]),
    ("headers", {"x-a": 1}),
    ("api_key", 123),
    ("basic_auth", "user:pass"),
    ("bearer_auth", b"token"),
    ("session", object()),
    ("verify_certs", "no"),
    ("ca_certs", 1),
    ("client_cert", 1),
    ("client_key", 1),
    ("ssl_context", "default"),
    ("ssl_assert_fingerprint", b"ab"),
    ("product_check", 0),
    ("product_check_streams", None),
    ("sniff_on_start", "yes"),
    ("sniff_on_node_failure", 1),
    ("read_bufsize", "64k"),
    ("max_event_bytes", 1.5),
]


@pytest.mark.parametrize(("option", "value"), BAD_CONSTRUCTOR_OPTIONS)
def test_a_constructor_option_of_the_wrong_type_is_named(option: str, value: Any) -> None:
    with pytest.raises(InvalidTypeError, match=option) as info:
        InferenceClient(URL, **{option: value})
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, InvalidRequestError)


def test_hosts_and_cloud_id_of_the_wrong_type() -> None:
    with pytest.raises(InvalidTypeError, match="hosts"):
        InferenceClient(9200)  # type: ignore[arg-type]
    with pytest.raises(InvalidTypeError, match="cloud_id"):
        InferenceClient(cloud_id=1)  # type: ignore[arg-type]


def test_a_bad_value_is_a_value_error_named() -> None:
    with pytest.raises(InvalidRequestError, match="retries") as info:
        InferenceClient(URL, retries=-1)
    assert isinstance(info.value, ValueError)
    assert not isinstance(info.value, TypeError)
    with pytest.raises(InvalidRequestError, match="read_bufsize"):
        InferenceClient(URL, read_bufsize=0)


BAD_FIELDS: list[tuple[type, str, Any, type[Exception]]] = [
    (Timeouts, "connect", 0, InvalidRequestError),
    (Timeouts, "first_event", "10", InvalidTypeError),
    (Timeouts, "idle", -1, InvalidRequestError),
    (Timeouts, "idle", float("nan"), InvalidRequestError),
    (Timeouts, "total", float("inf"), InvalidRequestError),
    (Timeouts, "total", True, InvalidTypeError),
    (RetryPolicy, "max_retries", -1, InvalidRequestError),
    (RetryPolicy, "max_retries", 1.0, InvalidTypeError),
    (RetryPolicy, "backoff_initial", -0.5, InvalidRequestError),
    (RetryPolicy, "backoff_max", "1", InvalidTypeError),
    (RetryPolicy, "jitter", 2, InvalidRequestError),
    (RetryPolicy, "retry_on_status", 503, InvalidTypeError),
    (RetryPolicy, "retry_on_status", {"503"}, InvalidTypeError),
    (RetryPolicy, "retry_on_status", {42}, InvalidRequestError),
    (RetryPolicy, "retry_on_timeout_answers", "yes", InvalidTypeError),
    (RetryPolicy, "max_retry_after", -1, InvalidRequestError),
    (Limits, "connections", -1, InvalidRequestError),
    (Limits, "connections_per_node", "5", InvalidTypeError),
    (Limits, "keepalive", -1, InvalidRequestError),
    (Limits, "read_bufsize", 0, InvalidRequestError),
    (Limits, "max_event_bytes", 1.5, InvalidTypeError),
    (Limits, "max_kept_text", 0, InvalidRequestError),
]


@pytest.mark.parametrize(("cls", "field", "value", "error"), BAD_FIELDS)
def test_every_config_field_is_checked_and_named(
    cls: type, field: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=rf"{cls.__name__}\.{field}\b") as info:
        cls(**{field: value})
    assert isinstance(info.value, InvalidRequestError)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, TypeError) == (error is InvalidTypeError)


def test_good_config_values_still_convert() -> None:
    assert Timeouts(idle=5).idle == 5.0
    assert RetryPolicy(retry_on_status=[503]).retry_on_status == frozenset({503})
    assert Timeouts(total=None).total is None


async def test_per_call_options_are_checked_before_any_io(es: ElasticsearchEmulator) -> None:
    async with InferenceClient(es.url) as client:
        with pytest.raises(InvalidTypeError, match="timeouts"):
            client.stream_completion("my-endpoint", "hi", timeouts=5)  # type: ignore[arg-type]
        with pytest.raises(InvalidTypeError, match="retries"):
            client.stream_completion("my-endpoint", "hi", retries="2")  # type: ignore[arg-type]
        with pytest.raises(InvalidTypeError, match="keep_text"):
            client.stream_completion("my-endpoint", "hi", keep_text=1)  # type: ignore[arg-type]
        with pytest.raises(InvalidTypeError, match="opaque_id"):
            client.stream_completion("my-endpoint", "hi", opaque_id=7)  # type: ignore[arg-type]
        with pytest.raises(InvalidTypeError, match="timeouts"):
            await client.completion("my-endpoint", "hi", timeouts=5)  # type: ignore[arg-type]
        with pytest.raises(InvalidTypeError, match="timeouts"):
            client.stream_chat_completion(
                "my-endpoint",
                [{"role": "user", "content": "hi"}],
                timeouts=1.0,  # type: ignore[arg-type]
            )
    assert es.requests == []  # nothing was sent


def test_invalid_type_error_is_public() -> None:
    assert asyncinfer.InvalidTypeError.__module__ == "asyncinfer"
