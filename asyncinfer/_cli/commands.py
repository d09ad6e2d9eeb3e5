"""The sub-commands: each takes the parsed arguments and a console and returns an exit code."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import asyncinfer

from .batch import complete_batch
from .connect import DEMO_ES_VERSION, add_demo_endpoints, connect
from .errors import EXIT_OK, CliUsageError
from .output import Console, Spinner, dumps, pretty


async def _relay(
    stream: asyncinfer.CompletionStream | asyncinfer.ChatCompletionStream,
    args: argparse.Namespace,
    console: Console,
) -> None:
    """Write a stream to stdout as it arrives (the shared body of ``stream`` and ``chat``)."""
    start = time.perf_counter()
    first: float | None = None
    parts = characters = 0
    with Spinner(console, "waiting for the first token") as spinner:
        async with stream:
            async for item in stream:
                if isinstance(item, str):
                    text: str | None = item
                    record: dict[str, Any] = {"token": item}
                else:
                    text = next((c.delta.content for c in item.choices if c.index == 0), None)
                    record = item.raw
                if text:
                    parts += 1
                    characters += len(text)
                if first is None and (text or args.json):
                    spinner.stop()
                    first = time.perf_counter()
                if args.json:
                    console.write(dumps(record))
                elif text:
                    console.write(text)
    console.end_line()
    # The demo (no cluster configured) shows what the stream measured unless told not to.
    demo = not (args.url or args.cloud_id)
    if args.stats or (args.stats is None and demo):
        elapsed = time.perf_counter() - start
        ttft = "n/a" if first is None else f"{(first - start) * 1000:.1f} ms"
        stats = (
            f"time to first token {ttft}; {parts} tokens in {elapsed:.3f} s "
            f"({parts / elapsed:.1f} tokens/s); {characters} characters"
        )
        if isinstance(stream, asyncinfer.ChatCompletionStream):
            usage = stream.usage
            if usage is not None:
                stats += (
                    f"; usage: {usage.prompt_tokens} prompt + {usage.completion_tokens} "
                    f"completion = {usage.total_tokens} tokens"
                )
        console.note(stats)


async def _stream(args: argparse.Namespace, console: Console) -> int:
    async with connect(args, console, "completion") as (client, inference_id):
        await _relay(client.stream_completion(inference_id, args.prompt), args, console)
    return EXIT_OK


async def _chat(args: argparse.Namespace, console: Console) -> int:
    messages = [{"role": "user", "content": args.message}]
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    async with connect(args, console, "chat_completion") as (client, inference_id):
        await _relay(client.stream_chat_completion(inference_id, messages), args, console)
    return EXIT_OK


async def _complete(args: argparse.Namespace, console: Console) -> int:
    if args.input_file is not None:
        return await complete_batch(args, console)
    async with connect(args, console, "completion") as (client, inference_id):
        with Spinner(console, "waiting for the answer"):
            result = await client.completion(inference_id, args.prompt)
    if args.json:
        console.write(dumps({"input": args.prompt, "result": result.text}))
    else:
        console.write(result.text)
        console.end_line()
    return EXIT_OK


async def _embed(args: argparse.Namespace, console: Console) -> int:
    task_type = "sparse_embedding" if args.sparse else "text_embedding"
    vectors: Sequence[Any]
    async with connect(args, console, task_type) as (client, inference_id):
        if args.sparse:
            if args.input_type is not None:
                raise CliUsageError("--input-type applies to dense embeddings only")
            sparse = await client.sparse_embedding(inference_id, args.texts)
            vectors = [embedding.tokens for embedding in sparse.embeddings]
        else:
            dense = await client.text_embedding(
                inference_id, args.texts, input_type=args.input_type
            )
            vectors = dense.embeddings
    for text, vector in zip(args.texts, vectors, strict=False):
        console.write(dumps({"input": text, "embedding": vector} if args.json else vector))
    return EXIT_OK


async def _rerank(args: argparse.Namespace, console: Console) -> int:
    documents: list[str] = args.documents
    async with connect(args, console, "rerank") as (client, inference_id):
        result = await client.rerank(inference_id, args.query, documents, top_n=args.top_n)
    for hit in result.results:
        text = documents[hit.index] if 0 <= hit.index < len(documents) else hit.text or ""
        if args.json:
            record = {"index": hit.index, "relevance_score": hit.relevance_score, "text": text}
            console.write(dumps(record))
        else:
            console.write(f"{hit.relevance_score:.4f}\t{hit.index}\t{text}\n")
    return EXIT_OK


async def _endpoints_list(
    client: asyncinfer.InferenceClient, args: argparse.Namespace, console: Console
) -> None:
    found = await client.get_endpoints(args.task_type)
    if args.json:
        for endpoint in found:
            console.write(dumps(endpoint.raw))
        return
    rows = [("INFERENCE_ID", "TASK_TYPE", "SERVICE")]
    rows += [(e.inference_id, e.task_type, e.service) for e in found]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for row in rows:
        console.write(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}\n")


async def _endpoints_change(
    client: asyncinfer.InferenceClient, args: argparse.Namespace, console: Console
) -> None:
    """``get``, ``put`` and ``delete``: print what Elasticsearch answered."""
    show = dumps if args.json else pretty
    if args.action == "get":
        for endpoint in await client.get_endpoints(args.task_type, args.inference_id):
            console.write(show(endpoint.raw))
    elif args.action == "put":
        created = await client.put_endpoint(
            args.task_type,
            args.inference_id,
            service=args.service,
            service_settings=args.service_settings,
            task_settings=args.task_settings,
            chunking_settings=args.chunking_settings,
        )
        console.write(show(created.raw))
    else:
        deleted = await client.delete_endpoint(
            args.inference_id, task_type=args.task_type, dry_run=args.dry_run, force=args.force
        )
        shown = dict(deleted.raw)
        if not deleted.error_message:
            # Elasticsearch sends "" when nothing uses the endpoint: no message, none shown.
            shown.pop("error_message", None)
        console.write(show(shown))


async def _endpoints(args: argparse.Namespace, console: Console) -> int:
    async with connect(args, console) as (client, _):
        if args.action == "list":
            await _endpoints_list(client, args, console)
        else:
            await _endpoints_change(client, args, console)
    return EXIT_OK


async def _serve(args: argparse.Namespace, console: Console) -> int:
    from asyncinfer.testing import ElasticsearchEmulator  # aiohttp.web only when needed

    if args.event_delay < 0:
        raise CliUsageError("--event-delay must be >= 0")
    try:
        emulator = ElasticsearchEmulator(
            host=args.host,
            port=args.port,
            event_delay=args.event_delay,
            version=args.es_version or DEMO_ES_VERSION,
            api_key=args.api_key,
        )
    except ValueError as exc:
        raise CliUsageError(f"--es-version: {exc}") from None
    add_demo_endpoints(emulator, None)
    for task_type, inference_id in args.endpoint:
        try:
            emulator.add_endpoint(inference_id, task_type)
        except ValueError as exc:
            raise CliUsageError(f"--endpoint {task_type}:{inference_id}: {exc}") from None
    async with emulator:
        endpoints = ", ".join(f"{i} ({t})" for t, i in emulator.endpoints)
        auth = "; requests need 'Authorization: ApiKey <--api-key>'" if args.api_key else ""
        console.note(
            f"emulator listening on {emulator.url}; endpoints: {endpoints}{auth}; Ctrl-C stops"
        )
        console.write(emulator.url + "\n")  # for scripts: the URL alone on stdout
        await asyncio.Event().wait()
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, Console], Coroutine[Any, Any, int]]] = {
    "stream": _stream,
    "chat": _chat,
    "complete": _complete,
    "embed": _embed,
    "rerank": _rerank,
    "endpoints": _endpoints,
    "serve": _serve,
}
