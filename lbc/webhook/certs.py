"""The webhook's serving certificate, read from a mounted Secret and reloaded when it rotates.

cert-manager renews the Certificate into the Secret; the kubelet swaps the mounted files
(atomically, through the ``..data`` symlink) within a minute or so. The API server verifies the
webhook against the ``caBundle`` of the webhook configuration (cert-manager's CA injector keeps
it current), so the daemon must start presenting the new certificate without a restart, or
every admission fails once the old one expires, and with ``failurePolicy: Fail`` that blocks
every TargetGroupBinding write.

Mechanism: :class:`ServingCertificate` polls the identity (inode, size, mtime) of ``tls.crt``
and ``tls.key`` every ``period`` seconds. On a change it builds a complete new ``SSLContext``
from the files; the listening socket's context has an ``sni_callback`` that hands every new
handshake the current context (OpenSSL calls it with or without SNI). So:

- connections already open keep the certificate they negotiated; every new connection after a
  successful reload gets the new one;
- a half-written rotation (key and certificate not matching yet) fails to load, is logged, and
  the previous certificate keeps serving; the next poll retries;
- a rotation is picked up within one ``period`` (``LBC_WEBHOOK_CERT_RELOAD_PERIOD``).
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Final, final

import anyio
import anyio.abc

from lbc.observe.log import get_logger

CERT_FILE: Final = "tls.crt"
KEY_FILE: Final = "tls.key"

_log = get_logger("lbc.webhook.certs")

_Identity = tuple[tuple[int, int, int, int], ...]


def _identity(paths: tuple[Path, Path]) -> _Identity:
    stats = (os.stat(p) for p in paths)
    return tuple((s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)


def _context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


@final
class ServingCertificate:
    """The current serving context, and the poller that replaces it on rotation."""

    def __init__(self, cert_dir: Path | str, *, period: float) -> None:
        directory = Path(cert_dir)
        self._paths = (directory / CERT_FILE, directory / KEY_FILE)
        self._period = period
        self._seen = _identity(self._paths)
        self._current = _context(*self._paths)
        self.reloads = 0
        # The listening socket's context: its certificate is only a placeholder, every
        # handshake is switched to ``_current`` before the certificate is sent.
        self.listener = _context(*self._paths)
        self.listener.sni_callback = self._choose

    def _choose(self, sock: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
        sock.context = self._current

    def check(self) -> bool:
        """Reload when the files changed; True when a new certificate is now served."""
        try:
            seen = _identity(self._paths)
        except OSError as err:
            _log.warning("webhook_certificate_unreadable", error=str(err))
            return False
        if seen == self._seen:
            return False
        try:
            context = _context(*self._paths)
        except (OSError, ssl.SSLError) as err:
            # Mid-rotation, or a broken Secret: keep serving the certificate that works.
            _log.warning("webhook_certificate_reload_failed", error=str(err))
            return False
        self._current, self._seen = context, seen
        self.reloads += 1
        _log.info("webhook_certificate_reloaded", reloads=self.reloads)
        return True

    async def run(self) -> None:
        """Poll for rotations until cancelled."""
        while True:
            await anyio.sleep(self._period)
            self.check()
