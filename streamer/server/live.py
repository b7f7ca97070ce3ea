"""Live views over HTTP: ``/cameras/NAME/live.mjpg`` and ``/cameras/NAME/snapshot.jpg``.

One :class:`Hub` per camera lives in the server's asyncio loop. The camera's
:class:`~streamer.outputs.live_view.LiveView` wakes it (``call_soon_threadsafe``) once per
frame; the hub encodes the newest frame at most once, in a small thread pool (never on the
loop), and every viewer sends those same bytes.

Each MJPEG viewer is one coroutine that sends the newest frame, waits for the next, and so
on: a viewer slower than the camera skips frames instead of queueing them. What one viewer
can have buffered is bounded by the transport's write buffer (aiohttp waits for it to drain
past 64 KiB) plus one frame; a viewer whose socket does not take a frame for
``WRITE_TIMEOUT`` seconds (gone, or stuck) is dropped. The pipeline never waits for any of
this: the live view's ``write`` only keeps a reference.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor
from typing import TYPE_CHECKING

from aiohttp import web

from streamer.outputs.live_view import LiveView, Picture
from streamer.server.board import Board, CameraEntry

if TYPE_CHECKING:
    from streamer.metrics import Metrics

log = logging.getLogger("streamer")

BOUNDARY = "streamerframe"
#: Seconds a viewer's socket may refuse a frame before the viewer is dropped.
WRITE_TIMEOUT = 10.0
#: Seconds ``snapshot.jpg?after=N`` waits for a frame newer than N (the dashboard's long-poll).
SNAPSHOT_WAIT = 5.0
#: Seconds ``snapshot.jpg`` waits for a camera's very first frame.
FIRST_FRAME_WAIT = 5.0


class Hub:
    """The asyncio side of one camera's live view: wake-ups, one encode per frame, viewers."""

    def __init__(self, entry: CameraEntry, view: LiveView, loop: asyncio.AbstractEventLoop, pool: Executor,
                 metrics: Metrics | None = None) -> None:
        self.entry = entry
        self.view = view
        self._loop = loop
        self._pool = pool
        self._changed: asyncio.Future[None] = loop.create_future()
        self._picture: Picture | None = None
        self._encoding: asyncio.Future[Picture | None] | None = None
        self._encoding_seq = -1
        self.stopping = False
        self._served_age = metrics.served_age.labels(entry.name) if metrics is not None else None
        view.add_listener(self._from_output)

    def _from_output(self) -> None:
        """Called in the output's thread after each frame."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        fut, self._changed = self._changed, self._loop.create_future()
        if not fut.done():
            fut.set_result(None)

    def detach(self) -> None:
        """Stop listening to the view and end every viewer (the server is stopping)."""
        self.view.remove_listener(self._from_output)
        self.stopping = True
        self._wake()

    async def wait_newer(self, after: int, timeout: float) -> bool:
        """Wait until the view has a frame newer than ``after``; False on timeout or end."""
        deadline = self._loop.time() + timeout
        while self.view.seq <= after:
            if self.view.closed or self.stopping:
                return False
            left = deadline - self._loop.time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(asyncio.shield(self._changed), left)
            except asyncio.TimeoutError:
                return False
        return True

    async def picture(self) -> Picture | None:
        """The newest frame as JPEG: encoded once, in the pool, whoever asks."""
        seq = self.view.seq
        if self._picture is not None and self._picture.seq >= seq:
            return self._picture
        if self._encoding is None or self._encoding_seq < seq:
            self._encoding_seq = seq
            self._encoding = self._loop.run_in_executor(self._pool, self.view.picture)
        picture = await asyncio.shield(self._encoding)
        if picture is not None and (self._picture is None or picture.seq > self._picture.seq):
            self._picture = picture
        return picture

    def sent(self, picture: Picture) -> None:
        self.entry.frames_sent += 1
        self.entry.bytes_sent += len(picture.jpeg)
        if self._served_age is not None:
            self._served_age.observe(max(0.0, time.monotonic() - picture.capture_time))


#: The application's shared objects (:func:`streamer.server.app.build_app` sets them).
BOARD: web.AppKey[Board] = web.AppKey("board", Board)
METRICS: web.AppKey[Metrics | None] = web.AppKey("metrics", object)
HUBS: web.AppKey[dict[str, Hub]] = web.AppKey("hubs", dict)


def _picture_headers(picture: Picture) -> dict[str, str]:
    return {"X-Frame-Seq": str(picture.seq), "X-Frame-Index": str(picture.index),
            "X-Frame-Age-Ms": f"{1000.0 * (time.monotonic() - picture.capture_time):.1f}",
            "Cache-Control": "no-store"}


def _hub(request: web.Request) -> Hub:
    hubs: dict[str, Hub] = request.app[HUBS]
    name = request.match_info["camera"]
    hub = hubs.get(name)
    if hub is None:
        board: Board = request.app[BOARD]
        entry = board.camera(name)
        if entry is not None:
            raise web.HTTPNotFound(text=f"camera {name}: {entry.no_view or 'no live view'}\n")
        raise web.HTTPNotFound(text=f"no camera named {name!r}\n")
    return hub


async def snapshot(request: web.Request) -> web.Response:
    """The newest frame as a JPEG; ``?after=SEQ`` waits (up to 5 s) for a newer one."""
    hub = _hub(request)
    try:
        after = int(request.query.get("after", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text="after: expected a frame sequence number\n") from None
    wait = SNAPSHOT_WAIT if after > 0 else FIRST_FRAME_WAIT
    if hub.view.seq <= after:
        await hub.wait_newer(max(0, after), wait)
    picture = await hub.picture()
    if picture is None:
        return web.Response(status=503, text=f"camera {hub.entry.name}: no frame yet\n", headers={"Retry-After": "1"})
    hub.sent(picture)
    return web.Response(body=picture.jpeg, content_type="image/jpeg", headers=_picture_headers(picture))


async def mjpeg(request: web.Request) -> web.StreamResponse:
    """``multipart/x-mixed-replace`` of JPEG frames until the client goes or the camera ends."""
    hub = _hub(request)
    board: Board = request.app[BOARD]
    entry = hub.entry
    if entry.viewers >= board.max_viewers:
        return web.Response(
            status=503, headers={"Retry-After": "5"},
            text=f"camera {entry.name}: {board.max_viewers} viewers already watch it, the most allowed "
                 "(--max-viewers); try again later\n")
    entry.viewers += 1
    response = web.StreamResponse(headers={
        "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        "Cache-Control": "no-store", "Pragma": "no-cache", "Connection": "close", "X-Content-Type-Options": "nosniff"})
    last = 0
    try:
        await response.prepare(request)
        while True:
            if hub.view.seq <= last and not await hub.wait_newer(last, 1.0):
                if hub.view.closed or hub.stopping:
                    break
                continue  # nothing new yet: wait again (a camera reconnecting)
            picture = await hub.picture()
            if picture is None:
                continue
            age_ms = 1000.0 * (time.monotonic() - picture.capture_time)
            head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(picture.jpeg)}\r\n"
                    f"X-Frame-Index: {picture.index}\r\nX-Frame-Age-Ms: {age_ms:.1f}\r\n\r\n").encode()
            await asyncio.wait_for(response.write(head + picture.jpeg + b"\r\n"), WRITE_TIMEOUT)
            hub.sent(picture)
            last = picture.seq
    except asyncio.TimeoutError:
        log.info("live view %s: a viewer took no frame for %.0f s; dropped", entry.name, WRITE_TIMEOUT)
    except (ConnectionError, RuntimeError):  # the client went away (reset, or the transport closed)
        pass
    finally:
        entry.viewers -= 1
    return response
