"""Real servers for the notification tests, on 127.0.0.1 and free ports: Debian's mosquitto
broker, an aiohttp webhook receiver, and a paho subscriber. Not a test module.

Every server is started by a fixture (``tests/test_notify.py``), bounded in time, and stopped
at teardown whatever the test did.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rtsp import free_port

HOST = "127.0.0.1"


def wait_until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``condition`` every 10 ms; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0


class Mosquitto:
    """Debian's mosquitto on 127.0.0.1:``port``, anonymous, no persistence; restartable."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            pytest.skip("mosquitto not installed (apt-get install mosquitto)")
        self.binary = binary
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} {HOST}\nallow_anonymous true\npersistence false\n"
                               "log_dest none\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{HOST}:{self.port}"

    def start(self) -> Mosquitto:
        self.proc = subprocess.Popen([self.binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 5.0
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.stderr and self.proc.poll() is not None else ""
                self.kill()
                raise AssertionError(f"mosquitto did not start on port {self.port}: {err}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """End the broker at once (SIGKILL: no goodbye to the clients)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


class Subscriber:
    """A paho client that keeps every message of ``topic`` (and resubscribes after reconnects)."""

    def __init__(self, port: int, topic: str = "#") -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, bytes, bool]] = []
        self.subscribed = threading.Event()
        self._lock = threading.Lock()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-sub-{id(self):x}")
        client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]

        def on_connect(c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if not reason.is_failure:
                c.subscribe(topic, qos=1)

        def on_subscribe(*_args: Any) -> None:
            self.subscribed.set()

        def on_message(_c: Any, _u: Any, message: Any) -> None:
            with self._lock:
                self.messages.append((message.topic, message.payload, bool(message.retain)))

        def on_disconnect(*_args: Any) -> None:
            self.subscribed.clear()

        client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
        client.on_disconnect = on_disconnect
        client.connect_async(HOST, port, 10)
        client.loop_start()
        self.client = client
        if not self.subscribed.wait(5):
            self.close()
            raise AssertionError("the test subscriber could not subscribe")

    def payloads(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _ in self.messages if t == topic]

    def records(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(p) for p in self.payloads(topic)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """An aiohttp server on 127.0.0.1 that keeps every POST and answers as told.

    ``statuses`` are the answers to the next requests, in order (then 200). While ``hang``
    is set, requests wait (until it is cleared or the server stops) and get no answer.
    """

    port: int = field(default_factory=free_port)
    requests: list[Request] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    hang: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str = "/hook") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def start(self) -> Receiver:
        from aiohttp import web

        ready = threading.Event()
        self._stop: asyncio.Event | None = None

        async def handle(request: web.Request) -> web.Response:
            body = await request.json()
            self.requests.append(Request(request.path_qs, dict(request.headers), body))
            while self.hang.is_set() and not self._stop.is_set():  # type: ignore[union-attr]
                await asyncio.sleep(0.01)
            status = self.statuses.popleft() if self.statuses else 200
            return web.Response(status=status, text="ok" if status < 400 else "no")

        async def serve() -> None:
            self._stop = asyncio.Event()
            app = web.Application()
            app.router.add_post("/{tail:.*}", handle)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, HOST, self.port).start()
            ready.set()
            await self._stop.wait()
            await runner.cleanup()

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(serve(),),
                                        name="test-webhook-receiver", daemon=True)
        self._thread.start()
        if not ready.wait(5):
            raise AssertionError("the webhook receiver did not start")
        return self

    def stop(self) -> None:
        self.hang.clear()
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)
