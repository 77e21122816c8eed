"""The other processes' counters for the dashboard's charts when they do not share the
web process's metrics folder (docker-compose: one container per process, replicas behind
one DNS name). Under `tds up` the shared folder already holds every child's counters."""

from __future__ import annotations

import logging
import socket
from urllib.error import URLError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import urlopen

logger = logging.getLogger(__name__)


def expand(url: str) -> list[str]:
    """`url` once per address its host resolves to (every replica of a compose service);
    the url itself when it does not resolve (its read then fails and is skipped)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return [url]
    addresses = sorted({str(info[4][0]) for info in infos})
    out = []
    for address in addresses:
        shown = f"[{address}]" if ":" in address else address
        netloc = f"{shown}:{port}" if port is not None else shown
        out.append(urlunsplit(parts._replace(netloc=netloc)))
    return out


def read_all(urls: tuple[str, ...], timeout_s: float = 2.0) -> bytes:
    """Every reachable exposition behind `urls`, concatenated (a replica that does not
    answer drops out of the sum; the charts' rates never go below zero for it)."""
    texts = []
    for url in urls:
        for one in expand(url):
            try:
                with urlopen(one, timeout=timeout_s) as response:  # noqa: S310 (http(s) only)
                    texts.append(response.read())
            except (URLError, OSError) as exc:
                logger.debug("charts: %s did not answer: %s", one, exc)
    return b"\n".join(texts)
