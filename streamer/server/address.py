"""``--serve [HOST:]PORT`` parsing, apart from the server (the settings validate it; no aiohttp here)."""

from __future__ import annotations

from streamer.errors import ConfigError

#: Where ``--serve PORT`` listens: this machine only, unless a host is given.
DEFAULT_HOST = "127.0.0.1"
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def parse_address(text: str, *, default_host: str = DEFAULT_HOST) -> tuple[str, int]:
    """``"8080"``, ``":8080"``, ``"0.0.0.0:8080"``, ``"[::1]:8080"`` -> (host, port).

    Raises
    ------
    ConfigError
        Not ``[HOST:]PORT`` with PORT in 0-65535 (0: any free port).
    """
    raw = str(text).strip()
    host, sep, port_text = raw.rpartition(":")
    if not sep:
        host, port_text = "", raw
    host = host.strip("[]") or default_host
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(f"--serve {raw}: expected [HOST:]PORT with PORT 0-65535 (e.g. 8080 or 0.0.0.0:8080)")
    return host, port


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    return host in LOOPBACK or host.startswith("127.")
