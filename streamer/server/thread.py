"""The server's own thread and asyncio loop, apart from the cameras.

:meth:`ServerThread.start` returns once the socket listens (or raises a one-line
:class:`~streamer.errors.ConfigError` naming HOST:PORT); :meth:`ServerThread.stop` ends every
viewer, closes the socket and joins the thread. Whatever happens inside the server (a handler
failing, the loop dying) is logged and never reaches the cameras.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from streamer.errors import ConfigError
from streamer.server.board import Board
from streamer.server.live import BOARD, HUBS, METRICS, Hub

log = logging.getLogger("streamer")

#: Seconds ``stop`` gives open requests (MJPEG viewers are ended first) before closing them.
SHUTDOWN_TIMEOUT = 2.0
#: Threads that JPEG-encode live views: one per core is plenty (an encode is ~6 ms at 720p and
#: happens at most once per frame per camera, whatever the number of viewers).
ENCODE_THREADS = 2


class ServerThread:
    """Serve ``app`` on ``host:port`` from a thread named ``streamer-server``.

    Parameters
    ----------
    app : aiohttp.web.Application
        From :func:`streamer.server.app.build_app`.
    host, port : str, int
        Where to listen; port 0 picks a free one (see :attr:`port`).
    """

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._pool = ThreadPoolExecutor(ENCODE_THREADS, thread_name_prefix="streamer-jpeg")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self, timeout: float = 10.0) -> None:
        """Listen, then return; the server runs until :meth:`stop`.

        Raises
        ------
        ConfigError
            The address is in use, cannot be assigned, or needs privileges.
        """
        self._thread = threading.Thread(target=self._main, name="streamer-server", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise ConfigError(f"--serve {self.host}:{self.port}: the server did not start in {timeout:g} s")
        if self._error is not None:
            self._thread.join(timeout)
            raise _bind_error(self._error, self.host, self.port) from None

    def _main(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - never reaches the cameras
            if not self._started.is_set():
                self._error = exc
            else:
                log.error("server: stopped by an error: %s", exc)
        finally:
            self._started.set()
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        board: Board = self.app[BOARD]
        loop = asyncio.get_running_loop()
        for name in board.names:
            entry = board.camera(name)
            if entry is not None and entry.view is not None:
                self.app[HUBS][name] = Hub(entry, entry.view, loop, self._pool, self.app[METRICS])
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            if self.port == 0 and runner.addresses:
                self.port = int(runner.addresses[0][1])
            self._started.set()
            await self._stop.wait()
        finally:
            for hub in self.app[HUBS].values():
                hub.detach()
            await asyncio.sleep(0)  # let viewers see the end and close their streams
            await runner.cleanup()

    def stop(self, timeout: float = 10.0) -> None:
        """End every viewer, stop listening, join the thread (idempotent)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop closed meanwhile
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("server: did not stop within %.0f s; left behind", timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)


def _bind_error(exc: BaseException, host: str, port: int) -> ConfigError:
    where = f"{host}:{port}"
    if isinstance(exc, OSError):
        if exc.errno == errno.EADDRINUSE:
            return ConfigError(f"--serve {where}: address already in use (another server on that port?)")
        if exc.errno == errno.EACCES:
            return ConfigError(f"--serve {where}: permission denied (ports below 1024 need privileges)")
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            return ConfigError(f"--serve {where}: no such address on this machine")
        reason = exc.strerror or str(exc)
        return ConfigError(f"--serve {where}: cannot listen ({reason})")
    return ConfigError(f"--serve {where}: cannot start the server ({exc})")
