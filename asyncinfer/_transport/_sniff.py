"""Sniffing: the cluster's HTTP nodes, from ``GET _nodes/_all/http``."""

from __future__ import annotations

import logging
import ssl
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from .._protocol import JSON_HEADERS
from ._nodes import NodePool

logger = logging.getLogger("asyncinfer")


def _publish_address(info: Any) -> str | None:
    # "hostname/ip:port" or "ip:port"; keep the host name when there is one (TLS checks it).
    address = ((info or {}).get("http") or {}).get("publish_address")
    if not isinstance(address, str) or not address:
        return None
    if "/" in address:
        host, _, rest = address.partition("/")
        port = rest.rpartition(":")[2]
        return f"{host}:{port}" if host else rest
    return address


async def sniff(
    session: aiohttp.ClientSession,
    pool: NodePool,
    headers: dict[str, str],
    ssl_option: ssl.SSLContext | aiohttp.Fingerprint | bool,
) -> None:
    """Replace ``pool``'s nodes with the cluster's HTTP nodes, as the first node that answers
    lists them; a node that fails is skipped, and with no answer the pool stays as it is."""
    for node in list(pool.nodes):
        try:
            async with session.get(
                node.url + "/_nodes/_all/http",
                headers={**headers, **JSON_HEADERS},
                timeout=aiohttp.ClientTimeout(total=5),
                ssl=ssl_option,
            ) as resp:
                if resp.status != 200:
                    continue
                body = orjson.loads(await resp.read())
        except (aiohttp.ClientError, OSError, TimeoutError, orjson.JSONDecodeError):
            continue
        scheme = urlsplit(node.url).scheme
        urls = sorted(
            f"{scheme}://{address}"
            for info in (body.get("nodes") or {}).values()
            if (address := _publish_address(info))
        )
        if urls:
            pool.replace(urls)
            logger.debug("sniffed nodes: %s", urls)
        return
