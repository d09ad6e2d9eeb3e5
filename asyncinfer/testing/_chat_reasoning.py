"""What the emulator's chat streams add from Elasticsearch 9.4: reasoning and usage details.

The deterministic model reasons when the request asks it to (a ``reasoning`` object whose
``effort`` is not ``"none"``): after the role chunk it streams ``reasoning`` deltas, then one
``reasoning_details`` chunk holding an opaque ``reasoning.encrypted`` detail, then its answer.
With ``"exclude": true`` it reasons without streaming either (the tokens are still counted).
The usage chunk then says how many completion tokens went to reasoning
(``completion_tokens_details.reasoning_tokens``, counted in ``completion_tokens``), and, for a
conversation with earlier turns, that their words were read from the provider's prompt cache
(``prompt_tokens_details.cached_tokens``). Keys come in the order of ES's
StreamingUnifiedChatCompletionResults (delta: content, refusal, role, reasoning, tool_calls,
reasoning_details; usage: completion, prompt, total tokens, then the two details).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Iterator
from typing import Any

from ._es_models import (
    _ChatRequest,
    _group,
    _message_text,
    _prompt_text,
)

__all__: list[str] = []  # private module


def _reasons(request: _ChatRequest) -> bool:
    reasoning = request.reasoning
    if reasoning is None:
        return False
    effort = reasoning.get("effort")
    return not (isinstance(effort, str) and effort.strip().lower() == "none")


def _reasoning_text(request: _ChatRequest) -> str:
    """What the model "thinks": the prompt's first words, then a fixed plan."""
    topic = " ".join(_prompt_text(request.messages).split()[:8])
    return f'The user wrote "{topic}"; I will answer from what I know, briefly and plainly.'


def _with_reasoning(
    chunks: Iterable[dict[str, Any]], request: _ChatRequest, per_event: int
) -> Iterator[dict[str, Any]]:
    """``chunks`` (from ``_chat_chunks``) with the reasoning chunks and usage details."""
    text = _reasoning_text(request) if _reasons(request) else None
    excluded = (request.reasoning or {}).get("exclude") in (True, "true")  # declareBoolean
    shown = text is not None and not excluded
    cached = sum(len(_message_text(m).split()) for m in request.messages[:-1])
    first = True
    for chunk in chunks:
        usage = chunk.get("usage")
        if usage is not None:
            chunk["usage"] = _usage(usage, 0 if text is None else len(text.split()), cached)
        yield chunk
        if first and shown:
            assert text is not None
            yield from _reasoning_chunks(chunk, text, per_event)
        first = False


def _reasoning_chunks(role: dict[str, Any], text: str, per_event: int) -> Iterator[dict[str, Any]]:
    def like_role(delta: dict[str, Any]) -> dict[str, Any]:
        choices = [{"delta": delta, "index": 0}]
        head = {"id": role["id"], "choices": choices}
        return {**head, "model": role["model"], "object": role["object"]}

    for piece in _group(re.findall(r"\s*\S+", text), per_event):
        yield like_role({"reasoning": piece})
    data = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode("ascii")
    detail = {"type": "reasoning.encrypted", "index": 0, "data": data}
    yield like_role({"reasoning_details": [detail]})


def _usage(usage: dict[str, Any], reasoning_tokens: int, cached: int) -> dict[str, Any]:
    completion = usage["completion_tokens"] + reasoning_tokens
    prompt = usage["prompt_tokens"]
    out: dict[str, Any] = {
        "completion_tokens": completion,
        "prompt_tokens": prompt,
        "total_tokens": completion + prompt,
    }
    if cached:
        out["prompt_tokens_details"] = {"cached_tokens": cached}
    if reasoning_tokens:
        out["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return out
