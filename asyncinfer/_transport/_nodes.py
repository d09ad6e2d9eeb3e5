"""The nodes of a cluster and their health: round-robin over live ones, back-off for dead ones."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

from .._exceptions import InvalidRequestError

# A node that failed n times in a row is left alone for min(1 s * 2**(n-1), 30 s), as
# elastic-transport does; then it is tried again.
_DEAD_BACKOFF_S = 1.0
_DEAD_BACKOFF_MAX_S = 30.0
_DEAD_BACKOFF_MAX_DOUBLINGS = 16


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``https://user:pass@host`` → (``https://host``, (user, pass)); never keep secrets in URLs.

    Raises:
        InvalidRequestError: Not an http(s) URL with a host.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Never echo the URL: it may hold credentials.
        raise InvalidRequestError("hosts must be http:// or https:// URLs with a host name")
    auth = None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        auth = (unquote(user), unquote(password))
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), auth


class Node:
    """One Elasticsearch node and its health."""

    __slots__ = ("dead_until", "failures", "url")

    def __init__(self, url: str) -> None:
        self.url = url
        self.failures = 0
        self.dead_until: float | None = None

    def __repr__(self) -> str:
        state = "alive" if self.dead_until is None else f"dead failures={self.failures}"
        return f"<Node {self.url} {state}>"


class NodePool:
    """Round-robin over live nodes; dead ones come back after their back-off.

    When every node is dead, the one whose back-off ends first is used anyway: a request
    must go somewhere, and a recovered cluster should be found at once.
    """

    def __init__(self, urls: Sequence[str]) -> None:
        if not urls:
            raise InvalidRequestError("give at least one host")
        self.nodes = [Node(url) for url in urls]
        self._next = 0

    def select(self, now: float) -> Node:
        """The next node to try."""
        count = len(self.nodes)
        for _ in range(count):
            node = self.nodes[self._next % count]
            self._next = (self._next + 1) % count
            if node.dead_until is None or node.dead_until <= now:
                return node
        return min(self.nodes, key=lambda n: n.dead_until or 0.0)

    def mark_dead(self, node: Node, now: float) -> None:
        """Take ``node`` out of rotation for its back-off."""
        node.failures += 1
        # The exponent is capped: thousands of concurrent connects failing together would
        # otherwise overflow the float (past 2**1023) long after the back-off hit its cap.
        doubling = min(node.failures - 1, _DEAD_BACKOFF_MAX_DOUBLINGS)
        backoff = min(_DEAD_BACKOFF_S * 2**doubling, _DEAD_BACKOFF_MAX_S)
        node.dead_until = now + backoff

    def hold(self, node: Node, now: float) -> None:
        """Keep ``node`` out of rotation for its current back-off, while one probe tries it."""
        doubling = min(max(node.failures - 1, 0), _DEAD_BACKOFF_MAX_DOUBLINGS)
        node.dead_until = now + min(_DEAD_BACKOFF_S * 2**doubling, _DEAD_BACKOFF_MAX_S)

    def mark_live(self, node: Node) -> None:
        """``node`` answered: forget its failures."""
        node.failures = 0
        node.dead_until = None

    def replace(self, urls: Sequence[str]) -> None:
        """Use these nodes from now on (sniffing), keeping the health of known ones."""
        known = {node.url: node for node in self.nodes}
        self.nodes = [known.get(url) or Node(url) for url in urls] or self.nodes
        self._next = 0
