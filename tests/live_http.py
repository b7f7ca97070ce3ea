"""Real HTTP clients for the ``--serve`` tests (stdlib http.client), and a frame feeder.

Not a test module: tests/test_server*.py import it.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from fractions import Fraction
from urllib.parse import urlsplit

import cv2
import numpy as np

from streamer.frames import Frame


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a GET; never raises on an HTTP error status."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


class MjpegClient:
    """Reads JPEG parts of a ``multipart/x-mixed-replace`` stream, one at a time."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self.conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
        self.response = self.conn.getresponse()
        self.status = self.response.status
        self.content_type = self.response.getheader("Content-Type", "")

    def next_jpeg(self) -> bytes:
        """The next part's body (raises EOFError at the end of the stream)."""
        headers: dict[str, str] = {}
        line = self.response.readline()
        while line in (b"\r\n", b"\n"):
            line = self.response.readline()
        if not line:
            raise EOFError("stream ended")
        assert line.startswith(b"--"), line
        while True:
            line = self.response.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            key, _, value = line.decode().partition(":")
            headers[key.strip().lower()] = value.strip()
        body = self.response.read(int(headers["content-length"]))
        return body

    def close(self) -> None:
        self.response.close()  # it holds the socket open on its own
        self.conn.close()


def decode_jpeg(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def port_in_use() -> tuple[socket.socket, int]:
    """A listening socket on a free port of 127.0.0.1 (close it when done) and its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock, sock.getsockname()[1]


class Feeder:
    """Writes real decoded pictures to an output at ``fps`` from a thread, as the fan-out does."""

    def __init__(self, output: object, images: list[np.ndarray], fps: float = 50.0) -> None:
        self.output = output
        self.images = images
        self.period = 1.0 / fps
        self.written = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-feeder", daemon=True)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            image = self.images[i % len(self.images)]
            self.output.write(Frame(i, i, Fraction(1, 25), time.monotonic(), image))  # type: ignore[attr-defined]
            self.written += 1
            i += 1
            self._stop.wait(self.period)

    def __enter__(self) -> Feeder:  # noqa: PYI034
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
