"""Webhook notifier: POST each record as JSON to a URL.

aiohttp's client (already a dependency for ``--serve``) runs in the notifier's own thread, on
an event loop of its own: one session, so successive records reuse a kept-alive connection.

- 2xx: sent.
- 5xx, 408, 429, connection errors and timeouts: retried ``retries`` times with capped
  exponential backoff and jitter (0.5 s, 1 s, 2 s, ... up to ``max_backoff``; a 429's or
  503's ``Retry-After`` in seconds is honoured within that cap), then counted as failed.
- any other 4xx: the request itself is wrong (URL, credentials, payload): not retried,
  counted as rejected, one warning line.

Headers come from the config; ``https://user:password@host/...`` becomes HTTP basic auth.
Nothing that could be a secret reaches a log line: the URL is shown as ``scheme://host/...``
and header values never.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from typing import Any

from streamer.bus import Record
from streamer.notify.base import Notifier
from streamer.notify.config import NotifyConfig
from streamer.retry import Backoff

log = logging.getLogger("streamer")

RETRIES = 4
MAX_BACKOFF = 30.0
#: Answers worth another try: the server's trouble, not the request's.
RETRY_STATUS = frozenset({408, 429}) | frozenset(range(500, 600))


class WebhookNotifier(Notifier):
    """POSTs every accepted record to ``config.webhook`` (see the module docstring)."""

    kind = "webhook"

    def __init__(self, config: NotifyConfig) -> None:
        super().__init__(config)
        from yarl import URL

        url = URL(str(config.webhook))
        self._url = str(url.with_user(None))
        self._headers = {"Content-Type": "application/json", **(config.headers or {})}
        if url.user:  # basic auth (aiohttp's BasicAuth helper is deprecated in 3.12+)
            token = base64.b64encode(f"{url.user}:{url.password or ''}".encode()).decode("ascii")
            self._headers.setdefault("Authorization", f"Basic {token}")
        self._retries = RETRIES if config.retries is None else config.retries
        self._backoff = Backoff(initial=0.5, maximum=config.max_backoff or MAX_BACKOFF)
        self._rng = random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: Any = None

    def open(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._session = self._loop.run_until_complete(self._new_session())

    async def _new_session(self) -> Any:
        import aiohttp

        return aiohttp.ClientSession(headers=self._headers,
                                     timeout=aiohttp.ClientTimeout(total=self.config.timeout))

    async def _post(self, body: bytes) -> tuple[int | None, str, float | None]:
        """(status or None, reason, Retry-After seconds or None) of one POST."""
        import aiohttp

        try:
            async with self._session.post(self._url, data=body) as response:
                await response.read()
                return response.status, response.reason or "", _retry_after(response.headers.get("Retry-After"))
        except asyncio.TimeoutError:
            return None, f"no answer within {self.config.timeout:g} s", None
        except aiohttp.ClientError as exc:
            # aiohttp's messages name host and port at most, never the path or credentials.
            return None, str(exc) or type(exc).__name__, None

    def deliver(self, record: Record, throttled: bool = False) -> None:
        assert self._loop is not None
        body = json.dumps(record, default=str).encode()
        for attempt in range(1, self._retries + 2):
            status, reason, retry_after = self._loop.run_until_complete(self._post(body))
            if status is not None and 200 <= status < 300:
                self.sent += 1
                return
            if status is not None and status not in RETRY_STATUS:
                self.rejected += 1
                if self.rejected == 1:
                    log.warning("%s: HTTP %d %s: not retried (the request was refused: check the URL "
                                "and credentials); further refusals are counted", self.name, status, reason)
                return
            why = f"HTTP {status} {reason}" if status is not None else reason
            if attempt > self._retries:
                break
            delay = self._backoff.delay(attempt, self._rng)
            if retry_after is not None:
                delay = min(max(delay, retry_after), self._backoff.maximum)
            if self.wait(delay):
                break  # closing: no more retries
        self.failed += 1
        if self.failed == 1:
            log.warning("%s: gave up on a record after %d attempts: %s (further failures are counted)",
                        self.name, attempt, why)

    def shutdown(self) -> None:
        if self._loop is None:
            return
        if self._session is not None:
            self._loop.run_until_complete(self._session.close())
        self._loop.close()


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is not used by webhook receivers)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
