"""TLS: how the server is verified (CA, pinned fingerprint) and which certificate we present."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from typing import Any

import aiohttp
import attrs

from .._exceptions import InvalidRequestError


@attrs.frozen(kw_only=True)
class TLSConfig:
    """How to verify the server, and which certificate to present."""

    verify_certs: bool = True
    ca_certs: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    ssl_context: ssl.SSLContext | None = None
    ssl_assert_fingerprint: str | None = None

    def aiohttp_ssl(self) -> ssl.SSLContext | aiohttp.Fingerprint | bool:
        """The value for aiohttp's ``ssl=``.

        Raises:
            InvalidRequestError: A malformed fingerprint, or options that cannot combine.
        """
        if self.ssl_assert_fingerprint is not None:
            if self.ca_certs or self.client_cert or self.ssl_context or not self.verify_certs:
                raise InvalidRequestError(
                    "ssl_assert_fingerprint replaces CA verification: it cannot be combined "
                    "with ca_certs, client_cert, ssl_context or verify_certs=False"
                )
            digest = self.ssl_assert_fingerprint.replace(":", "").strip().lower()
            try:
                raw = bytes.fromhex(digest)
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise InvalidRequestError(
                    "ssl_assert_fingerprint must be a SHA-256 digest: 64 hex digits, colons allowed"
                )
            # Pinning replaces CA verification, as in the official clients.
            return _ChainFingerprint(raw)
        if self.ssl_context is not None:
            if self.ca_certs or self.client_cert or not self.verify_certs:
                raise InvalidRequestError(
                    "ssl_context is used as is: configure CA, client certificate and "
                    "verification on it, not with ca_certs, client_cert or verify_certs"
                )
            return self.ssl_context
        if not self.verify_certs:
            return False
        if self.ca_certs is None and self.client_cert is None:
            # aiohttp's own verifying context, made once per process: building one here costs
            # ~25 ms (loading the system CA store) for every client, even over http://.
            return True
        context = ssl.create_default_context(cafile=self.ca_certs)
        if self.client_cert is not None:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context


class _ChainFingerprint(aiohttp.Fingerprint):
    """Accept the server if the leaf, or any certificate of its chain, has the pinned SHA-256.

    Elasticsearch prints its CA's fingerprint at first start, so users pin the CA; Python
    exposes the chain from 3.13 (``get_unverified_chain``), and only the leaf before that.
    """

    def check(self, transport: asyncio.Transport) -> None:
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        certs: list[bytes] = [ssl_object.getpeercert(binary_form=True)]
        chain = getattr(ssl_object, "get_unverified_chain", None)
        if chain is not None:
            certs += [_der(cert) for cert in chain() or ()]
        if any(hashlib.sha256(cert).digest() == self.fingerprint for cert in certs):
            return
        host, port, *_ = transport.get_extra_info("peername")
        raise aiohttp.ServerFingerprintMismatch(
            self.fingerprint, hashlib.sha256(certs[0]).digest(), host, port
        )


def _der(cert: Any) -> bytes:
    # get_unverified_chain() returns DER bytes on some versions and Certificate objects on others.
    if isinstance(cert, bytes):
        return cert
    return bytes(cert.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
