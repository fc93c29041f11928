"""HTTPS and mutual TLS for ``siamese serve``, with certificates that reload when their files
change (SIAMESE_TLS_CERT, SIAMESE_TLS_KEY, SIAMESE_TLS_CLIENT_CA).

uvicorn builds one :class:`ssl.SSLContext` at startup and listens with it for the life of
the process. :class:`ReloadingContexts` is its ``ssl_context_factory``: the context it gives
uvicorn carries an SNI callback, which OpenSSL calls at every handshake (with or without a
server name from the client). The callback compares the files' identity (inode, size,
modification time) with the last one built, builds a new context when they differ, and moves
the handshake onto the newest good context, so that a new certificate, key or client CA
serves from the next connection on, with no restart and no watcher thread. A new set of files
that does not load (a certificate and key written one after the other, say) is logged and
skipped: the last good context keeps serving until the files change again.

Instances are plain data, so uvicorn can hand them to its worker processes (``--workers``);
each process keeps its own current context.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable
from typing import Any

from uvicorn.config import create_ssl_context

log = logging.getLogger("siamese.server")

__all__ = ["ReloadingContexts"]

_Identity = tuple[tuple[int, int, int, int], ...]


class ReloadingContexts:
    """uvicorn's ``ssl_context_factory`` for a certificate, its key, and optionally the CA
    whose client certificates are required (mutual TLS)."""

    def __init__(self, cert: str, key: str | None, client_ca: str | None = None) -> None:
        self.cert = cert
        self.key = key
        self.client_ca = client_ca
        self.alpn: list[str] | None = None
        self._current: ssl.SSLContext | None = None
        self._identity: _Identity | None = None
        self._tried: _Identity | None = None
        self.reloads = 0  # contexts built after the first

    def __getstate__(self) -> dict[str, Any]:
        # what a worker process needs: the paths (its contexts are its own)
        return {"cert": self.cert, "key": self.key, "client_ca": self.client_ca}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cert"], state["key"], state["client_ca"])  # type: ignore[misc]

    def __call__(self, config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        """The listening context: built from the files now (an error here stops the server
        at startup, naming the file), with the callback that keeps handshakes current."""
        protocol_class = getattr(config, "http_protocol_class", None)
        self.alpn = getattr(protocol_class, "alpn_protocols", None)
        identity = self._identity_now()
        try:
            base = self._build()
        except (OSError, ssl.SSLError) as e:
            raise ValueError(
                "SIAMESE_TLS_CERT, SIAMESE_TLS_KEY, SIAMESE_TLS_CLIENT_CA: "
                f"{', '.join(self._paths())} do not load as a PEM certificate, its key "
                f"and CAs ({e})"
            ) from None
        self._current, self._identity, self._tried = base, identity, identity
        base.sni_callback = self._on_handshake
        return base

    def _paths(self) -> list[str]:
        return [p for p in (self.cert, self.key, self.client_ca) if p]

    def _identity_now(self) -> _Identity:
        out = []
        for path in self._paths():
            st = os.stat(path)
            out.append((st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        return tuple(out)

    def _build(self) -> ssl.SSLContext:
        ctx = create_ssl_context(
            certfile=self.cert,
            keyfile=self.key,
            password=None,
            ssl_version=ssl.PROTOCOL_TLS_SERVER,
            cert_reqs=ssl.CERT_REQUIRED if self.client_ca else ssl.CERT_NONE,
            ca_certs=self.client_ca,
            ciphers=None,
            alpn_protocols=self.alpn,
        )
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def current(self) -> ssl.SSLContext:
        """The context for a new handshake: rebuilt first when the files changed since the
        last attempt, the last good one when they do not load."""
        try:
            identity = self._identity_now()
        except OSError as e:  # a file being replaced: keep serving with what we have
            log.warning("TLS files: %s; the current certificate keeps serving", e)
            assert self._current is not None
            return self._current
        if identity != self._identity and identity != self._tried:
            self._tried = identity
            try:
                fresh = self._build()
            except (OSError, ssl.SSLError, ValueError) as e:
                log.warning("TLS files changed but do not load (%s); the current certificate "
                            "keeps serving", e)
            else:
                self._current, self._identity = fresh, identity
                self.reloads += 1
                log.info("TLS certificate reloaded from %s", self.cert)
        assert self._current is not None
        return self._current

    def _on_handshake(
        self, sslobj: ssl.SSLObject | ssl.SSLSocket, server_name: str | None,
        base: ssl.SSLContext,
    ) -> None:
        newest = self.current()
        if newest is not base:
            sslobj.context = newest
