"""The sans-I/O SSE decoder: the HTML Standard's event-stream rules, Elasticsearch's framing,
chunking invariance, the size ceiling and linear time.

Spec quotations are from the HTML Standard, §9.2.6 "Interpreting an event stream"
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation);
Elasticsearch's framing is in /work/shared/spec/es-inference-wire.md §3.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import asyncinfer.sse
from asyncinfer._protocol import completion_block_tokens, completion_tokens
from asyncinfer.sse import DEFAULT_MAX_EVENT_BYTES, ServerSentEvent, SSEDecoder, SSEProtocolError

E = ServerSentEvent
BOM = b"\xef\xbb\xbf"
KIB = 1024
MIB = 1024 * KIB


@pytest.fixture(autouse=True)
def _loop_errors() -> None:
    """Override conftest's event-loop watch: the decoder has no loop to watch, and the watch
    (an event loop and a gc.collect() per test) would cost ~40 ms on each of these tests."""


# Hypothesis warns about function-scoped fixtures, which run once for all of a test's examples;
# the no-op above is one.
hypothesis_settings = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# The byte-level properties are cheap per example (well under a millisecond): run more.
many_examples = settings(hypothesis_settings, max_examples=300)


def pieces_of(stream: bytes, cuts: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


def one_byte_pieces(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


def one_byte_pieces_and_empty_feeds(stream: bytes) -> list[bytes]:
    """One byte at a time, with an empty feed (an empty read) before and after each."""
    return [b"", *(piece for i in range(len(stream)) for piece in (stream[i : i + 1], b""))]


def decode_pieces(
    pieces: Iterable[bytes],
    *,
    bom_every_event: bool = False,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    client_path: bool = False,
) -> tuple[list[ServerSentEvent], bool]:
    """Feed ``pieces`` then close; return the events delivered and whether the ceiling tripped.

    Also checks, after every successful feed, that the decoder holds no more than its ceiling.
    ``client_path`` feeds as the client does: ``feed_message_block`` first, ``feed_raw`` when it
    declines.
    """
    decoder = SSEDecoder(bom_every_event=bom_every_event, max_event_bytes=max_event_bytes)
    events: list[ServerSentEvent] = []
    error: SSEProtocolError | None = None
    try:
        for piece in pieces:
            messages = decoder.feed_message_block(piece) if client_path else None
            if not client_path:
                events += decoder.feed(piece)
            elif messages is None:
                events += [
                    ServerSentEvent(t, d.decode("utf-8", "replace"), i, r)
                    for t, d, i, r in decoder.feed_raw(piece)
                ]
            else:
                block, count = messages
                payloads = block.split(asyncinfer.sse.MESSAGE_SEPARATOR)
                assert len(payloads) == count
                # Message events leave the id and retry in effect unchanged.
                last_id, retry = decoder._last_id, decoder._retry
                events += [
                    ServerSentEvent("message", data.decode("utf-8", "replace"), last_id, retry)
                    for data in payloads
                ]
            assert decoder.buffered_bytes <= max_event_bytes
        events += decoder.close()
    except SSEProtocolError as exc:
        error = exc
    assert decoder.buffered_bytes <= max_event_bytes
    if error is None:
        return events, False
    assert f"max_event_bytes={max_event_bytes}" in str(error)  # the message names the limit
    return events, True


def decode(stream: bytes, *, bom_every_event: bool = False) -> list[ServerSentEvent]:
    """Decode ``stream`` fed whole and fed bytewise (with empty feeds between); they must agree."""
    whole, failed = decode_pieces([stream], bom_every_event=bom_every_event)
    assert not failed
    pieces = one_byte_pieces_and_empty_feeds(stream)
    assert decode_pieces(pieces, bom_every_event=bom_every_event) == (whole, False)
    return whole


# The standard's algorithm, written out literally and slowly: decode the whole stream, split it
# into lines, then run the field rules on text. Hypothesis checks the decoder against it.
_LINE_END = re.compile(r"\r\n|\r|\n")


def reference_decode(stream: bytes, *, bom_every_event: bool) -> list[ServerSentEvent]:
    # "Streams must be decoded using the UTF-8 decode algorithm", which replaces invalid
    # sequences with U+FFFD and strips one leading BOM (done below, as the first event's BOM).
    lines = _LINE_END.split(stream.decode("utf-8", "replace"))
    lines.pop()  # text after the last line end is not a line: "discard" it at end of stream
    events: list[ServerSentEvent] = []
    data = event_type = ""
    last_id: str | None = None
    retry: int | None = None
    at_event_start, first_line = True, True
    for line in lines:
        if at_event_start and (first_line or bom_every_event) and line.startswith("\ufeff"):
            line = line[1:]
        at_event_start = first_line = False
        if not line:
            # "If the line is empty (a blank line): Dispatch the event"
            if data:
                events.append(E(event_type or "message", data[:-1], last_id, retry))
            data = event_type = ""
            at_event_start = True
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            event_type = value
        elif name == "data":
            data += value + "\n"
        elif name == "id":
            if "\0" not in value:
                last_id = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            # Documented deviation shared with Chromium: a value beyond 64 bits is ignored.
            digits = value.lstrip("0")
            if len(digits) <= 20 and int(digits or "0") < 2**64:
                retry = int(digits or "0")
    return events


# ---------------------------------------------------------------------------------------------
# 1. The standard's rules, one case each: bytes in, exact events out (fed whole and bytewise).

SPEC_CASES = [
    # "Lines must be separated by either a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF)
    # character pair, a single U+000A LINE FEED (LF) character, or a single U+000D CARRIAGE
    # RETURN (CR) character."
    pytest.param(b"data: a\n\n", [E(data="a")], id="lf-line-ends"),
    pytest.param(b"data: a\r\n\r\n", [E(data="a")], id="crlf-line-ends"),
    pytest.param(b"data: a\r\r", [E(data="a")], id="cr-line-ends"),
    pytest.param(b"data: a\rdata: b\r\ndata: c\n\r\n", [E(data="a\nb\nc")], id="mixed-line-ends"),
    pytest.param(b"data: a\r\ndata: b\r\n\r\n", [E(data="a\nb")], id="crlf-is-one-line-end"),
    pytest.param(b"data: a\n\rdata: b\n\n", [E(data="a"), E(data="b")], id="lf-cr-is-two"),
    pytest.param(
        b"data: a\x0bb\x0cc\x1cd\n\n", [E(data="a\x0bb\x0cc\x1cd")], id="vt-ff-fs-not-line-ends"
    ),
    # "If the line starts with a U+003A COLON character (:) Ignore the line."
    pytest.param(b": hello\ndata: a\n:\n\n", [E(data="a")], id="comment-line"),
    pytest.param(b": keep-alive\n\n", [], id="comment-only-block-no-dispatch"),
    # "If the line contains a U+003A COLON character (:) Collect the characters on the line
    # before the first U+003A COLON character (:), and let field be that string. Collect the
    # characters on the line after the first U+003A COLON character (:), and let value be that
    # string. If value starts with a U+0020 SPACE character, remove it from value."
    pytest.param(b"data: a: b:c\n\n", [E(data="a: b:c")], id="split-at-first-colon"),
    pytest.param(b"data:a\n\n", [E(data="a")], id="space-after-colon-optional"),
    pytest.param(b"data:  a\n\n", [E(data=" a")], id="space-after-colon-removed-once"),
    pytest.param(b"data:\ta\n\n", [E(data="\ta")], id="only-space-removed-not-tab"),
    pytest.param(b"data: a \n\n", [E(data="a ")], id="trailing-space-kept"),
    pytest.param(b"data : a\n\n", [], id="space-before-colon-is-part-of-name"),
    pytest.param(b" data: a\n\n", [], id="leading-space-is-part-of-name"),
    pytest.param(b"Data: a\n\n", [], id="field-names-case-sensitive"),
    # "Otherwise, the string is not empty but does not contain a U+003A COLON character (:)
    # Process the field using the steps described below, using the whole line as the field
    # name, and the empty string as the field value."
    pytest.param(b"data\n\n", [E(data="")], id="field-without-colon"),
    pytest.param(b"data\ndata\n\n", [E(data="\n")], id="field-without-colon-twice"),
    # "Otherwise: The field is ignored."
    pytest.param(b"foo: bar\ndata: a\nfoo\n\n", [E(data="a")], id="unknown-field-ignored"),
    # "data: Append the field value to the data buffer, then append a single U+000A LINE FEED
    # (LF) character to the data buffer." ... "If the data buffer's last character is a U+000A
    # LINE FEED (LF) character, then remove the last character from the data buffer."
    pytest.param(b"data: a\ndata: b\n\n", [E(data="a\nb")], id="multi-line-data-joined-with-lf"),
    pytest.param(b"data: a\ndata:\n\n", [E(data="a\n")], id="empty-last-data-line-kept"),
    pytest.param(b"data:\n\n", [E(data="")], id="empty-data-line-dispatches-empty-string"),
    # "If the data buffer is an empty string, set the data buffer and the event type buffer to
    # the empty string and return."
    pytest.param(b"event: add\n\n", [], id="data-empty-buffer-no-dispatch"),
    pytest.param(b"event: add\n\ndata: a\n\n", [E(data="a")], id="event-type-reset-by-empty-block"),
    # "event: Set the event type buffer to the field value." ... "Initialize event's type
    # attribute to "message" ... If the event type buffer has a value other than the empty
    # string, change the type of the newly created event to equal the value of the event type
    # buffer." ... "Set the data buffer and the event type buffer to the empty string."
    pytest.param(b"event: add\ndata: a\n\n", [E("add", "a")], id="event-type-set"),
    pytest.param(b"event:\ndata: a\n\n", [E(data="a")], id="empty-event-type-is-message"),
    pytest.param(b"event: a\nevent: b\ndata: x\n\n", [E("b", "x")], id="last-event-field-wins"),
    pytest.param(b"data: x\nevent: add\n\n", [E("add", "x")], id="event-after-data-applies"),
    pytest.param(
        b"event: add\ndata: a\n\ndata: b\n\n",
        [E("add", "a"), E("message", "b")],
        id="event-type-reset-after-dispatch",
    ),
    pytest.param(
        b"event: add\ndata: a\n\nevent: message\ndata: b\n\n",
        [E("add", "a"), E("message", "b")],
        id="event-message-named-explicitly",
    ),
    # "id: If the field value does not contain U+0000 NULL, then set the last event ID buffer
    # to the field value. Otherwise, ignore the field." The buffer "does not get reset".
    pytest.param(b"id: 1\ndata: a\n\n", [E(data="a", id="1")], id="id-sets-last-event-id"),
    pytest.param(b"data: a\nid: 5\n\n", [E(data="a", id="5")], id="id-after-data-applies"),
    pytest.param(
        b"id: 1\ndata: a\n\ndata: b\n\n",
        [E(data="a", id="1"), E(data="b", id="1")],
        id="last-event-id-persists",
    ),
    pytest.param(
        b"id: 7\n\ndata: a\n\n", [E(data="a", id="7")], id="id-in-block-without-data-kept"
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid\ndata: b\n\n",
        [E(data="a", id="1"), E(data="b", id="")],
        id="empty-id-resets-last-event-id",
    ),
    pytest.param(
        b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
        [E(data="a", id="1"), E(data="b", id="1")],
        id="id-with-nul-ignored",
    ),
    # "retry: If the field value consists of only ASCII digits, then interpret the field value
    # as an integer in base ten, and set the event stream's reconnection time to that integer.
    # Otherwise, ignore the field." The reconnection time persists like the last event ID.
    pytest.param(b"retry: 3000\ndata: a\n\n", [E(data="a", retry=3000)], id="retry-set"),
    pytest.param(
        b"retry: 10\n\ndata: a\n\ndata: b\n\n",
        [E(data="a", retry=10), E(data="b", retry=10)],
        id="retry-persists",
    ),
    pytest.param(
        b"retry: 10\ndata: a\n\nretry: 1.5\nretry: 20x\nretry: -1\nretry: +3\ndata: b\n\n",
        [E(data="a", retry=10), E(data="b", retry=10)],
        id="retry-non-digit-ignored",
    ),
    pytest.param(
        "retry: \u0663\ndata: a\n\n".encode(), [E(data="a")], id="retry-non-ascii-digit-ignored"
    ),
    pytest.param(b"retry:  5\ndata: a\n\n", [E(data="a")], id="retry-second-space-not-digit"),
    pytest.param(b"retry:\ndata: a\n\n", [E(data="a")], id="retry-empty-ignored"),
    pytest.param(b"retry: 007\ndata: a\n\n", [E(data="a", retry=7)], id="retry-leading-zeros"),
    # Beyond the standard: Chromium ignores a value that does not fit in 64 bits, and Python's
    # int() refuses more than 4300 digits (a ValueError the decoder must not leak).
    pytest.param(
        b"retry: 18446744073709551615\ndata: a\n\n",
        [E(data="a", retry=2**64 - 1)],
        id="retry-64-bit-max-kept",
    ),
    pytest.param(
        b"retry: 5\nretry: 18446744073709551616\nretry: " + b"9" * 5000 + b"\ndata: a\n\n",
        [E(data="a", retry=5)],
        id="retry-beyond-64-bits-ignored",
    ),
    pytest.param(
        b"retry: " + b"0" * 5000 + b"42\ndata: a\n\n",
        [E(data="a", retry=42)],
        id="retry-many-leading-zeros",
    ),
    # "Once the end of the file is reached, any pending data must be discarded. (If the file
    # ends in the middle of an event, before the final empty line, the incomplete event is not
    # dispatched.)"
    pytest.param(b"data: a\n\ndata: b\n", [E(data="a")], id="unterminated-event-discarded"),
    pytest.param(b"data: a\n\ndata: b", [E(data="a")], id="unterminated-line-discarded"),
    pytest.param(b"data: a\n\ndata: b\r", [E(data="a")], id="unterminated-after-cr"),
    pytest.param(b"", [], id="empty-stream"),
    pytest.param(b"\n\r\n\r", [], id="blank-lines-only"),
    # The UTF-8 decode algorithm strips one BOM at the start of the stream, and only there.
    pytest.param(BOM + b"data: a\n\n", [E(data="a")], id="bom-at-stream-start-stripped"),
    pytest.param(BOM + b"\ndata: a\n\n", [E(data="a")], id="bom-then-blank-line"),
    pytest.param(
        b"data: a\n\n" + BOM + b"data: b\n\n", [E(data="a")], id="bom-only-at-stream-start"
    ),
    pytest.param(BOM + BOM + b"data: a\n\n", [], id="only-one-bom-stripped"),
    pytest.param(b"data: " + BOM + b"a\n\n", [E(data="\ufeffa")], id="bom-in-value-kept"),
    # Decoding: "UTF-8 decode" replaces each maximal invalid subpart with U+FFFD.
    pytest.param("data: 検索 é\n\n".encode(), [E(data="検索 é")], id="non-ascii-data"),
    pytest.param(b"data: a\xffb\n\n", [E(data="a\ufffdb")], id="invalid-utf8-replaced"),
    pytest.param(b"data: \xe2\x82\n\n", [E(data="\ufffd")], id="truncated-sequence-one-fffd"),
    pytest.param(b"data: \xed\xa0\x80\n\n", [E(data="\ufffd" * 3)], id="surrogate-bytes-fffd"),
    pytest.param(b"event: \xff\ndata: a\n\n", [E("\ufffd", "a")], id="invalid-utf8-event-type"),
    pytest.param(b"id: \xc3\ndata: a\n\n", [E(data="a", id="\ufffd")], id="invalid-utf8-id"),
    pytest.param(b"data: a\x00b\n\n", [E(data="a\x00b")], id="nul-in-data-kept"),
]


@pytest.mark.parametrize(("stream", "expected"), SPEC_CASES)
def test_spec_rule(stream: bytes, expected: list[ServerSentEvent]) -> None:
    assert decode(stream) == expected
    assert reference_decode(stream, bom_every_event=False) == expected  # the oracle agrees


@pytest.mark.parametrize(
    ("stream", "expected"), [case for case in SPEC_CASES if BOM not in case.values[0]]
)
def test_elasticsearch_mode_changes_nothing_without_a_bom(
    stream: bytes, expected: list[ServerSentEvent]
) -> None:
    assert decode(stream, bom_every_event=True) == expected


# ---------------------------------------------------------------------------------------------
# Elasticsearch's framing (wire spec §3.1): a BOM before EVERY event.

ES_MESSAGE = BOM + b'event: message\ndata: {"completion":[{"delta":"Elastic"}]}\n\n'
ES_ERROR = (
    BOM + b'event: error\ndata: {"error":{"code":"stream_error","message":"boom",'
    b'"type":"status_exception"}}\n\n'
)
ES_DONE = BOM + b"event: message\ndata: [DONE]\n\n"
MESSAGE_DATA = '{"completion":[{"delta":"Elastic"}]}'
ERROR_DATA = '{"error":{"code":"stream_error","message":"boom","type":"status_exception"}}'

ES_CASES = [
    pytest.param(
        ES_MESSAGE + ES_MESSAGE + ES_DONE,
        [E(data=MESSAGE_DATA), E(data=MESSAGE_DATA), E(data="[DONE]")],
        [E(data=MESSAGE_DATA), E(data=MESSAGE_DATA), E(data="[DONE]")],
        id="es-completion-stream",
    ),
    # The spec behaviour, and why Elasticsearch mode exists: in strict mode the 2nd event's
    # first line is the field "\ufeffevent", which is ignored, so the error reads as a message.
    pytest.param(
        ES_MESSAGE + ES_ERROR,
        [E(data=MESSAGE_DATA), E(data=ERROR_DATA)],
        [E(data=MESSAGE_DATA), E("error", ERROR_DATA)],
        id="es-error-mid-stream",
    ),
    pytest.param(
        ES_ERROR + ES_ERROR,
        [E("error", ERROR_DATA), E(data=ERROR_DATA)],
        [E("error", ERROR_DATA), E("error", ERROR_DATA)],
        id="es-error-first-then-again",
    ),
    # Only one BOM, and only at the start of an event, is skipped.
    pytest.param(
        BOM + b"event: error\n" + BOM + b"data: x\n\ndata: y\n\n",
        [E(data="y")],
        [E(data="y")],
        id="es-bom-only-at-event-start",
    ),
    pytest.param(BOM + BOM + b"data: x\n\n", [], [], id="es-one-bom-per-event"),
    pytest.param(
        b"data: a\n\n" + BOM + b"\n" + BOM + b"data: b\n\n",
        [E(data="a")],
        [E(data="a"), E(data="b")],
        id="es-bom-only-line-is-blank",
    ),
    pytest.param(
        BOM + b"event: error\r\ndata: x\r\n\r\n" + BOM + b"event: error\rdata: y\r\r",
        [E("error", "x"), E(data="y")],
        [E("error", "x"), E("error", "y")],
        id="es-bom-with-cr-line-ends",
    ),
]


@pytest.mark.parametrize(("stream", "strict", "elasticsearch"), ES_CASES)
def test_elasticsearch_framing(
    stream: bytes, strict: list[ServerSentEvent], elasticsearch: list[ServerSentEvent]
) -> None:
    assert decode(stream) == strict
    assert decode(stream, bom_every_event=True) == elasticsearch
    assert reference_decode(stream, bom_every_event=False) == strict
    assert reference_decode(stream, bom_every_event=True) == elasticsearch


def test_raw_feed_returns_utf8_bytes_and_state() -> None:
    # The tuple form that _stream.py and _protocol.py consume: data stays undecoded bytes.
    decoder = SSEDecoder(bom_every_event=True)
    assert decoder._feed(b"id: 9\nretry: 5\n\n" + ES_ERROR + BOM + b"data: \xff\n\n") == [
        ("error", ERROR_DATA.encode(), "9", 5),
        ("message", b"\xff", "9", 5),
    ]


def test_error_body_fits_a_ceiling_of_its_own_length() -> None:
    # _protocol.error_from_body decodes a whole SSE error body with max_event_bytes=len(body).
    decoder = SSEDecoder(bom_every_event=True, max_event_bytes=len(ES_ERROR))
    assert decoder._feed(ES_ERROR + b"\n\n") == [("error", ERROR_DATA.encode(), None, None)]
    body = ES_ERROR.rstrip(b"\n")  # the same without its blank line
    decoder = SSEDecoder(bom_every_event=True, max_event_bytes=len(body))
    assert decoder._feed(body + b"\n\n") == [("error", ERROR_DATA.encode(), None, None)]


# ---------------------------------------------------------------------------------------------
# Splits that once went wrong, or easily could: explicit pieces in, events out.

SPLIT_CASES = [
    pytest.param(
        [b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"], False, [E(data="a\nb")], id="cr-lf-split"
    ),
    # Regression: an empty feed between a CR and its LF made the LF a second line end (a blank
    # line), dispatching "a" on its own.
    pytest.param(
        [b"data: a\r", b"", b"\ndata: b\n\n"], False, [E(data="a\nb")], id="empty-feed-in-crlf"
    ),
    pytest.param([b"data: a\r", b"\r"], False, [E(data="a")], id="cr-then-cr-split"),
    pytest.param(
        [b"data: \xe6", b"\xa4", b"\x9c\n\n"], False, [E(data="検")], id="utf8-char-split"
    ),
    pytest.param(
        [b"data: \xe6\xa4", b"\n\n"], False, [E(data="\ufffd")], id="utf8-char-cut-by-line-end"
    ),
    pytest.param([b"\xef", b"\xbb\xbfdata: a\n\n"], False, [E(data="a")], id="bom-split-strict"),
    pytest.param(
        [ES_MESSAGE + b"\xef", b"\xbb", b"\xbf" + ES_ERROR[3:]],
        True,
        [E(data=MESSAGE_DATA), E("error", ERROR_DATA)],
        id="bom-split-elasticsearch",
    ),
    pytest.param(
        [ES_MESSAGE[:-1], b"\n" + ES_ERROR[:2], ES_ERROR[2:]],
        True,
        [E(data=MESSAGE_DATA), E("error", ERROR_DATA)],
        id="blank-line-and-bom-split",
    ),
]


@pytest.mark.parametrize(("pieces", "bom_every_event", "expected"), SPLIT_CASES)
def test_split(pieces: list[bytes], bom_every_event: bool, expected: list[ServerSentEvent]) -> None:
    assert decode_pieces(pieces, bom_every_event=bom_every_event) == (expected, False)


def test_close_discards_the_event_in_progress() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [E(data="a")]
    assert decoder.buffered_bytes > 0
    assert decoder.close() == []
    assert decoder.buffered_bytes == 0


def test_server_sent_event_value() -> None:
    assert E() == E("message", "", None, None)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        E().data = "x"  # type: ignore[misc]


def test_sse_module_is_pure() -> None:
    """No asyncio, no I/O, no clock: the module imports only attrs and our own pure modules."""
    tree = ast.parse(Path(asyncinfer.sse.__file__).read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "typing", "attrs", "_config", "_exceptions"}, imported


# ---------------------------------------------------------------------------------------------
# 2. Chunking invariance, against the reference, on realistic generated streams.

_INVALID_UTF8 = [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f\x98", b"\x80"]
_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=8).map(str.encode)
_value = st.lists(
    st.one_of(
        _text,
        st.sampled_from([b"message", b"error", b"add", b"\x00", b" ", b":", *_INVALID_UTF8]),
        st.integers(0, 2**66).map(lambda n: str(n).encode()),
    ),
    max_size=3,
).map(b"".join)
_name = st.sampled_from([b"data", b"data", b"data", b"event", b"id", b"retry", b"foo", b"Data"])
_field = st.builds(
    lambda name, sep, value: name + sep + value,
    _name,
    st.sampled_from([b": ", b":", b":  ", b""]),
    _value,
)
_line = st.one_of(
    _field,
    _field,
    st.builds(lambda v: b":" + v, _value),  # a comment
    st.builds(lambda line: BOM + line, _field),
    st.just(b""),  # a blank line: dispatch
    st.just(BOM),
)
_line_end = st.sampled_from([b"\n", b"\r", b"\r\n"])
_es_event = st.builds(
    lambda kind, payload: BOM + b"event: " + kind + b"\ndata: " + payload + b"\n\n",
    st.sampled_from([b"message", b"error"]),
    _value,
)
sse_streams = st.builds(
    lambda bom, parts, tail: bom + b"".join(parts) + tail,
    st.sampled_from([b"", BOM]),
    st.lists(
        st.one_of(st.builds(bytes.__add__, _line, _line_end), _es_event),
        max_size=12,
    ),
    st.one_of(st.just(b""), _field),  # an unterminated last line
)


@hypothesis_settings
@given(stream=sse_streams, bom_every_event=st.booleans(), client=st.booleans(), data=st.data())
@example(stream=b"data: a\r\ndata: b\r\n\r\n", bom_every_event=False, client=False, data=None)
def test_chunking_invariance(
    stream: bytes, bom_every_event: bool, client: bool, data: st.DataObject
) -> None:
    kwargs = {"bom_every_event": bom_every_event, "client_path": client}
    expected = reference_decode(stream, bom_every_event=bom_every_event)
    whole = decode_pieces([stream], **kwargs)
    assert whole == (expected, False)
    bytewise = decode_pieces(one_byte_pieces_and_empty_feeds(stream), **kwargs)
    assert bytewise == (expected, False)
    cuts = (
        [i for i in range(1, len(stream)) if stream[i - 1 : i] == b"\r"]  # every CR|LF split
        if data is None
        else data.draw(st.lists(st.integers(0, len(stream)), max_size=8), label="cuts")
    )
    split = decode_pieces(pieces_of(stream, cuts), **kwargs)
    assert split == (expected, False)


_es_streams = st.builds(
    lambda events, tail: b"".join(events) + tail,
    st.lists(
        st.one_of(_es_event, _es_event, _es_event, st.builds(bytes.__add__, _line, _line_end)),
        max_size=12,
    ),
    st.sampled_from([b"", BOM, BOM + b"event: message\nda", b"\n", b"\r"]),
)


@hypothesis_settings
@given(
    stream=_es_streams,
    max_event_bytes=st.one_of(st.integers(1, 80), st.just(DEFAULT_MAX_EVENT_BYTES)),
    data=st.data(),
)
def test_client_path_decodes_elasticsearch_streams_as_the_standard_does(
    stream: bytes, max_event_bytes: int, data: st.DataObject
) -> None:
    # Mostly whole Elasticsearch events, which feed_message_block takes without the line parser.
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8), label="cuts")
    kwargs: dict[str, Any] = {"bom_every_event": True, "max_event_bytes": max_event_bytes}
    expected = decode_pieces([stream], **kwargs)
    assert decode_pieces([stream], client_path=True, **kwargs) == expected
    assert decode_pieces(pieces_of(stream, cuts), client_path=True, **kwargs) == expected
    if not expected[1]:
        assert expected[0] == reference_decode(stream, bom_every_event=True)


@pytest.mark.parametrize("tail", [b"x" * 100, b"\n" + b"x" * 100], ids=["one-line", "two-lines"])
def test_client_path_holds_no_more_than_the_ceiling(tail: bytes) -> None:
    # Whole events, then an unfinished one longer than the ceiling: the ceiling trips (here or
    # at the next feed), whichever path took the whole events.
    event = BOM + b"event: message\ndata: {}\n\n"
    stream = event + BOM + b"event: message\ndata: " + tail
    kwargs: dict[str, Any] = {"bom_every_event": True, "max_event_bytes": 60}
    expected = decode_pieces([stream, b"x"], **kwargs)
    assert expected == ([E("message", "{}")], True)
    assert decode_pieces([stream, b"x"], client_path=True, **kwargs) == expected


# ---------------------------------------------------------------------------------------------
# 3. Arbitrary bytes either parse or raise SSEProtocolError; the outcome does not depend on the
# split, including whether and where the ceiling trips.

_sse_tokens = st.lists(
    st.one_of(
        st.sampled_from(
            [
                *(b"\n", b"\r", b"\r\n", b"data:", b"event:", b"id:", b"retry:", b":", b" "),
                *(BOM, b"\x00", b"1", b"message", *_INVALID_UTF8),
            ]
        ),
        st.binary(max_size=4),
    ),
    max_size=40,
).map(b"".join)


def check_arbitrary_bytes(
    stream: bytes, max_event_bytes: int, bom_every_event: bool, cuts: Sequence[int]
) -> None:
    kwargs: dict[str, Any] = {
        "bom_every_event": bom_every_event,
        "max_event_bytes": max_event_bytes,
    }
    whole = decode_pieces([stream], **kwargs)
    # The client's path (message events as their data) decodes every split the same way.
    client = {**kwargs, "client_path": True}
    assert decode_pieces([stream], **client) == whole
    assert decode_pieces(pieces_of(stream, cuts), **client) == whole
    assert decode_pieces(one_byte_pieces(stream), **kwargs) == whole
    assert decode_pieces(pieces_of(stream, cuts), **kwargs) == whole
    events, failed = whole
    expected = reference_decode(stream, bom_every_event=bom_every_event)
    if failed:
        assert events == expected[: len(events)]  # everything before the oversized event
    else:
        assert events == expected


@many_examples
@given(
    stream=st.binary(max_size=200),
    max_event_bytes=st.one_of(st.integers(1, 64), st.just(DEFAULT_MAX_EVENT_BYTES)),
    bom_every_event=st.booleans(),
    cuts=st.lists(st.integers(0, 200), max_size=8),
)
def test_arbitrary_bytes_parse_or_raise_protocol_error(
    stream: bytes, max_event_bytes: int, bom_every_event: bool, cuts: list[int]
) -> None:
    check_arbitrary_bytes(
        stream, max_event_bytes, bom_every_event, [min(c, len(stream)) for c in cuts]
    )


@many_examples
@given(
    stream=_sse_tokens,
    max_event_bytes=st.integers(1, 64),
    bom_every_event=st.booleans(),
    cuts=st.lists(st.integers(0, 400), max_size=8),
)
# Regression: a BOM alone on its line was not counted at its line end, only while buffered.
@example(stream=BOM + b"\n", max_event_bytes=1, bom_every_event=False, cuts=[])
def test_sse_like_bytes_parse_or_raise_protocol_error(
    stream: bytes, max_event_bytes: int, bom_every_event: bool, cuts: list[int]
) -> None:
    check_arbitrary_bytes(
        stream, max_event_bytes, bom_every_event, [min(c, len(stream)) for c in cuts]
    )


# ---------------------------------------------------------------------------------------------
# 4. The ceiling on one event's bytes.


def test_ceiling_error_names_the_limit() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    with pytest.raises(SSEProtocolError, match=r"max_event_bytes=64\b"):
        decoder.feed(b"data: " + b"x" * 100)


@pytest.mark.parametrize("feed_size", [1, 7, 18, 1000], ids=lambda n: f"feeds-of-{n}")
def test_ceiling_counts_data_lines_whole(feed_size: int) -> None:
    # A data line counts with its field name (and the BOM of an event's first line); the blank
    # line that ends the event does not count. So b"data: abcd" fits in 10 bytes, exactly.
    for stream, limit, fits in [
        (b"data: abcd\n\n", 10, True),
        (b"data: abcde\n\n", 10, False),
        (b"data: ab\ndata: cd\n\n", 16, True),
        (b"data: ab\ndata: cd\n\n", 15, False),
        (BOM + b"data: abcd\n\n", 13, True),
        (BOM + b"data: abcd\n\n", 12, False),
        (b"data: abcd\r\n\r\n", 10, True),
        # Elasticsearch's event: its first line (17 bytes with the BOM) must fit while read,
        # and its BOM stays counted for the event, as on any other first line.
        (BOM + b"event: message\ndata: x\n\n", 17, True),
        (BOM + b"event: message\ndata: x\n\n", 16, False),
        (BOM + b"event: message\ndata: 0123456789abcd\n\n", 23, True),
        (BOM + b"event: message\ndata: 0123456789abcd\n\n", 22, False),
    ]:
        pieces = [stream[i : i + feed_size] for i in range(0, len(stream), feed_size)]
        events, failed = decode_pieces(pieces, bom_every_event=True, max_event_bytes=limit)
        assert failed is not fits, (stream, limit)
        assert len(events) == fits


def test_ceiling_is_per_event() -> None:
    stream = b"data: 0123456789\n\n" * 1000
    events, failed = decode_pieces([stream], max_event_bytes=16)
    assert not failed
    assert len(events) == 1000


def test_lines_that_hold_nothing_do_not_accumulate() -> None:
    # Comments and other fields are not kept, so only the line being read counts for them.
    stream = b": 0123456789\nevent: add\nid: 0123456789\n" * 100 + b"data: x\n\n"
    assert decode_pieces([stream], max_event_bytes=16) == ([E("add", "x", id="0123456789")], False)
    assert decode_pieces(one_byte_pieces(stream), max_event_bytes=16)[1] is False


def test_a_long_line_counts_while_it_is_read() -> None:
    for line in [b": " + b"x" * 20, b"event: " + b"x" * 20, b"foo" * 10]:
        assert decode_pieces([line + b"\n\n"], max_event_bytes=16) == ([], True)
        assert decode_pieces([line], max_event_bytes=16) == ([], True)
        assert decode_pieces(one_byte_pieces(line), max_event_bytes=16) == ([], True)


def test_events_before_the_oversized_one_are_returned_first() -> None:
    decoder = SSEDecoder(max_event_bytes=32)
    # The oversized event completes in the same feed: it is never dispatched.
    events = decoder.feed(b"data: a\n\ndata: b\n\ndata: " + b"x" * 40 + b"\n\ndata: c\n\n")
    assert events == [E(data="a"), E(data="b")]
    assert decoder.buffered_bytes <= 32
    with pytest.raises(SSEProtocolError, match=r"max_event_bytes=32\b"):
        decoder.feed(b"data: d\n\n")
    with pytest.raises(SSEProtocolError, match=r"max_event_bytes=32\b"):
        decoder.close()


def test_events_before_an_oversized_unterminated_line_are_returned_first() -> None:
    decoder = SSEDecoder(max_event_bytes=32)
    assert decoder.feed(b"data: a\n\ndata: " + b"x" * 40) == [E(data="a")]
    assert decoder.buffered_bytes <= 32
    with pytest.raises(SSEProtocolError, match=r"max_event_bytes=32\b"):
        decoder.close()


def test_buffered_bytes_stays_under_the_ceiling_byte_by_byte() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    stream = b"data: " + b"x" * 50 + b"\n" + b"data: " + b"y" * 50 + b"\n"
    with pytest.raises(SSEProtocolError, match=r"max_event_bytes=100\b"):
        for piece in one_byte_pieces(stream):
            assert decoder.feed(piece) == []
            assert decoder.buffered_bytes <= 100
    assert decoder.buffered_bytes <= 100
    with pytest.raises(SSEProtocolError):  # and it stays failed
        decoder.feed(b"\n\n")


def test_max_event_bytes_must_be_positive() -> None:
    assert SSEDecoder().max_event_bytes == DEFAULT_MAX_EVENT_BYTES
    with pytest.raises(ValueError, match="max_event_bytes"):
        SSEDecoder(max_event_bytes=0)


# ---------------------------------------------------------------------------------------------
# 5. Linear time, whatever the split. No timing ratios (machines are noisy): a decoder that
# re-copies or re-scans its buffered line on every feed does about n**2 / 2 byte operations,
# 8 * 10**12 for 4 MiB, and cannot finish before the timeout; a linear one takes about a second.


@pytest.mark.timeout(30)
def test_one_byte_feeds_of_a_4mib_event_are_linear() -> None:
    payload = b"x" * (4 * MIB)
    stream = b"data: " + payload + b"\n\n"
    feed = SSEDecoder()._feed
    events = []
    for i in range(len(stream)):
        events += feed(stream[i : i + 1])
    assert events == [("message", payload, None, None)]


@pytest.mark.timeout(30)
def test_one_byte_feeds_on_the_client_path_are_linear() -> None:
    # The client tries feed_message_block first on every read: a read that completes no event
    # must not copy what is held (4 MiB a byte at a time would take hours if it did).
    # The first read ends with the start of the big event, which is then held raw.
    payload = b"x" * (4 * MIB)
    first = BOM + b"event: message\ndata: {}\n\n"
    stream = first + BOM + b"event: message\ndata: " + payload + b"\n\n"
    decoder = SSEDecoder(bom_every_event=True)
    reads = [stream[: len(first) + 30]]
    reads += [stream[i : i + 1] for i in range(len(reads[0]), len(stream))]
    blocks = []
    for piece in reads:
        block = decoder.feed_message_block(piece)
        if block is None:
            assert decoder.feed_raw(piece) == []
        else:
            blocks.append(block)
    assert blocks == [(b"{}", 1), (payload, 1)]


@pytest.mark.timeout(30)
def test_one_byte_feeds_of_many_lines_are_linear() -> None:
    line = b"data: " + b"y" * 58 + b"\n"
    stream = line * (MIB // len(line)) + b"\n"
    feed = SSEDecoder(max_event_bytes=2 * MIB)._feed
    events = []
    for i in range(len(stream)):
        events += feed(stream[i : i + 1])
    assert len(events) == 1
    assert len(events[0][1]) == (MIB // len(line)) * len(line) - 6 * (MIB // len(line)) - 1


# ---------------------------------------------------------------------------------------------
# 6. The completion stream's hot path: a block of message data to tokens, exactly as parsing
# each event would give them.

_delta = st.text(max_size=6) | st.sampled_from(['"', "\\", '},{"delta":', "}]}", "\n", "😀"])
_es_chunk = st.lists(_delta, min_size=1, max_size=3).map(
    lambda deltas: orjson.dumps({"completion": [{"delta": d} for d in deltas]})
)
_crafted = st.lists(
    st.sampled_from(
        [b'"', b"\\", b'},{"delta":', b"}]}", b"},", b",", b"a", b"1", b"{", b"[", b" ", b'"a"']
    ),
    max_size=8,
).map(lambda parts: b'{"completion":[{"delta":' + b"".join(parts) + b"}]}")
_payload = st.one_of(
    _es_chunk,
    _es_chunk,
    _crafted,
    st.just(b'{"completion":[{"result":"whole"}]}'),
    st.just(b'{"completion":[{"delta":1}]}'),
    st.just(b'{"completion":[{"delta":"a"},{"delta":null}]}'),
    st.just(b'{"completion":[{"delta":"a"}],"x":1}'),
    st.just(b"[DONE]"),
)


@many_examples
@given(payloads=st.lists(_payload, min_size=1, max_size=6))
@example(payloads=[b'{"completion":[{"delta":"a}]}', b'{"completion":[{"delta":b","c"}]}'])
@example(payloads=[b'{"completion":[{"delta":"a"},{"delta":"b"}]}', b'{"completion":[]}'])
@example(payloads=[b'{"completion":[{"delta":"a","b"}]}'])  # one piece, two strings
def test_completion_block_tokens_are_the_tokens_of_each_event(payloads: list[bytes]) -> None:
    separator = asyncinfer.sse.MESSAGE_SEPARATOR
    block = separator.join(payloads)
    fast = completion_block_tokens(block, len(payloads), separator)
    tokens, error = completion_tokens(payloads)
    if fast is not None:
        assert (fast, error) == (tokens, None)


@many_examples
@given(payloads=st.lists(_es_chunk, min_size=1, max_size=6))
def test_elasticsearch_chunks_take_the_block_path(payloads: list[bytes]) -> None:
    separator = asyncinfer.sse.MESSAGE_SEPARATOR
    fast = completion_block_tokens(separator.join(payloads), len(payloads), separator)
    assert fast is not None
    assert fast == completion_tokens(payloads)[0]
