"""Settings of the ``notify:`` list: where event records go (webhooks, MQTT) and which ones.

YAML::

    notify:
      - webhook: https://hooks.example.com/streamer
        headers: {Authorization: "Bearer s3cret"}
        events: [cross, enter]
        zones: [door]
        min_interval: 30s
      - mqtt: mqtt://user:pass@broker:1883
        prefix: streamer
        qos: 1

Each entry is one notifier: ``webhook: URL`` or ``mqtt: URL``, the filters every notifier
has, then its own options (an option of the other kind is an error, not ignored).
Credentials may sit in the URL (``https://user:pass@host/...`` becomes HTTP basic auth);
logs and summaries never show them, nor a webhook's path or query (Slack-style URLs keep
their token there).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from streamer.units import duration

#: Options that only one kind of notifier takes.
WEBHOOK_ONLY = ("headers", "retries", "max_backoff")
MQTT_ONLY = ("prefix", "qos", "client_id", "keepalive", "available")
#: Header names whose values are secrets in any spelling (matched case-insensitively, as parts).
SECRET_WORDS = ("authorization", "token", "key", "secret", "password", "cookie", "signature")




class NotifyConfig(BaseModel):
    """One notifier: a webhook or an MQTT broker, and the records it sends.

    Filters (all optional; a record must pass every one given):

    - ``events``: kinds (``cross``, ``enter``, ``exit``, ``loiter``, ``appear``,
      ``disappear``, ``source``, ``output``, ``start``); default: every kind;
    - ``cameras``: camera names;
    - ``classes``: class names (``label``) or ids written as digits;
    - ``zones``: zone or line names (records of neither kind do not pass);
    - ``min_interval``: at most one record per (camera, kind, zone or line) in this many
      seconds (the others are counted as throttled).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # repr=False: a settings object printed or logged shows no URL (credentials, tokens) or header.
    webhook: str | None = Field(None, repr=False, description="http(s):// URL each record is POSTed to as JSON")
    mqtt: str | None = Field(None, repr=False, description="mqtt:// (or mqtts://) broker URL, optionally with user:password@")
    name: str | None = Field(None, description="name in logs and summaries (default: the URL's host)")
    events: frozenset[str] | None = None
    cameras: frozenset[str] | None = None
    classes: frozenset[str] | None = None
    zones: frozenset[str] | None = None
    min_interval: float = Field(0.0, ge=0.0, le=86400.0)
    queue: int = Field(100, ge=1, le=100_000, description="records waiting to be sent; the oldest is dropped (and counted) when full")
    timeout: float = Field(5.0, gt=0.0, le=600.0, description="seconds a request or a connection attempt may take")
    # -- webhook only
    headers: dict[str, str] | None = Field(None, repr=False)
    retries: int | None = Field(None, ge=0, le=100, description="retries after a 5xx answer or a connection error [4]")
    max_backoff: float | None = Field(None, gt=0.0, le=3600.0, description="longest wait between retries [30 s]")
    # -- mqtt only
    prefix: str | None = Field(None, min_length=1, description="topic prefix [streamer]")
    qos: int | None = Field(None, ge=0, le=2, description="QoS of event messages [1]")
    client_id: str | None = None
    keepalive: int | None = Field(None, ge=5, le=3600)
    available: str | None = Field(None, min_length=1, description="availability topic: online/offline, retained, the last will [PREFIX/available]")

    @field_validator("events", "cameras", "classes", "zones", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple, set, frozenset)):
            return frozenset(str(v) for v in value)
        return value

    @field_validator("min_interval", "timeout", "max_backoff", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return duration(value)

    @field_validator("webhook")
    @classmethod
    def _webhook_url(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"webhook must be an http:// or https:// URL with a host, got {_masked(url)!r}")
        return url

    @field_validator("mqtt")
    @classmethod
    def _mqtt_url(cls, url: str | None) -> str | None:
        if url is not None:
            parts = urlsplit(url if "://" in url else f"mqtt://{url}")
            if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
                raise ValueError(f"mqtt must be a broker URL such as mqtt://host:1883, got {_masked(url)!r}")
            try:
                parts.port  # noqa: B018 - raises on a bad port
            except ValueError:
                raise ValueError(f"mqtt: bad port in {_masked(url)!r}") from None
        return url

    @model_validator(mode="after")
    def _one_kind(self) -> NotifyConfig:
        if (self.webhook is None) == (self.mqtt is None):
            raise ValueError("each notify entry is either 'webhook: URL' or 'mqtt: URL'")
        wrong = MQTT_ONLY if self.webhook is not None else WEBHOOK_ONLY
        given = [k for k in wrong if getattr(self, k) is not None]
        if given:
            kind = "mqtt" if self.webhook is not None else "webhook"
            raise ValueError(f"{given[0]}: only for {kind} notifiers")
        return self

    @property
    def kind(self) -> str:
        """``"webhook"`` or ``"mqtt"``."""
        return "webhook" if self.webhook is not None else "mqtt"

    @property
    def url(self) -> str:
        return self.webhook if self.webhook is not None else str(self.mqtt)

    def display(self) -> str:
        """``webhook https://host:port/...`` (``name`` when given): never a credential, path or query."""
        if self.name:
            return f"{self.kind} {self.name}"
        return f"{self.kind} {_masked(self.url)}"


def _masked(url: str) -> str:
    """``scheme://host[:port]`` plus ``/...`` when a path or query is left out."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    rest = "/..." if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}{rest}"


def is_secret_header(name: str) -> bool:
    """Whether a header's value must never be shown (``Authorization``, ``X-Api-Key``, ...)."""
    low = name.lower()
    return any(word in low for word in SECRET_WORDS)


def with_cli(notify: list[NotifyConfig], webhooks: tuple[str, ...] | None,
             brokers: tuple[str, ...] | None) -> list[NotifyConfig]:
    """A camera's ``notify:`` list plus the command line's ``--webhook URL`` and ``--mqtt URL``.

    Raises
    ------
    ConfigError
        ``--webhook URL: what is wrong`` (the URL shown without credentials or path).
    """
    from pydantic import ValidationError

    from streamer.errors import ConfigError

    added = []
    for kind, urls in (("webhook", webhooks or ()), ("mqtt", brokers or ())):
        for url in urls:
            try:
                added.append(NotifyConfig.model_validate({kind: url}))
            except ValidationError as exc:
                message = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise ConfigError(f"--{kind} {_masked(url)}: {message}") from None
    return [*notify, *added]
