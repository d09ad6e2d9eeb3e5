"""The only part of the client that imports aiohttp: nodes, connections, TLS, product check.

:meth:`Transport.open` makes one attempt: it picks a live node (``_nodes``), sends a
:class:`~asyncinfer._protocol.Request` and hands back a :class:`Response` (``_response``: status,
headers and a byte-chunk reader). TLS settings are in ``_tls``, sniffing in ``_sniff``.
"""

from ._nodes import Node, NodePool, split_userinfo
from ._response import Response
from ._tls import TLSConfig
from ._transport import CircuitOpenError, Sending, Transport, user_agent

__all__ = [
    "CircuitOpenError",
    "Node",
    "NodePool",
    "Response",
    "Sending",
    "TLSConfig",
    "Transport",
    "split_userinfo",
    "user_agent",
]
