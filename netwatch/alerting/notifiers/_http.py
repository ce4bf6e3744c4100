"""What the HTTP notifiers share: URLs fit for a log line and the meaning of a status code."""

from __future__ import annotations

from urllib.parse import urlsplit


def redact_url(url: str) -> str:
    """``scheme://host:port/path`` without credentials or query (webhook URLs often hold tokens).

    >>> redact_url("https://u:p@hooks.example.gov.vn:8443/x/T0KEN?sig=abc")
    'https://hooks.example.gov.vn:8443/…'
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid URL>"
    if ":" in host:
        host = f"[{host}]"
    path = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{path}"


def retryable_status(status: int) -> bool:
    """Whether an HTTP error status may go away by itself: 408, 425, 429 and every 5xx."""
    return status in (408, 425, 429) or status >= 500
