"""The one exception tree of netwatch.

Everything netwatch raises on purpose derives from :class:`NetwatchError`; library errors are
translated at one boundary per module and chained with ``raise ... from exc``::

    NetwatchError
    ├── ConfigError          the configuration cannot be used; carries every Problem found
    ├── SecretError          an {env:} or {file:} secret cannot be read (never shows the value)
    ├── ProbeSetupError      a probe cannot start at all (e.g. no ICMP permission)
    ├── HistoryError         the history database cannot be opened or written
    └── NotifyError          a notification channel rejected or could not take a message

A network failure of a polled device is *not* an exception: probes return it as data
(``models.Failure``).
"""

from __future__ import annotations

from dataclasses import dataclass


class NetwatchError(Exception):
    """Root of every error netwatch raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration, located in its file.

    >>> str(Problem("netwatch.yaml", 3, 5, "sites[0].id", "missing"))
    'netwatch.yaml:3:5: sites[0].id: missing'
    """

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}"


class ConfigError(NetwatchError):
    """The configuration is invalid; ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.path))
        super().__init__("\n".join(str(p) for p in self.problems))


class SecretError(NetwatchError):
    """A secret reference ({env: NAME} or {file: PATH}) cannot be resolved."""


class ProbeSetupError(NetwatchError):
    """A probe cannot run at all on this machine (the message says how to fix it)."""


class HistoryError(NetwatchError):
    """The history database cannot be opened, read or written."""


class NotifyError(NetwatchError):
    """A notification channel did not accept a message.

    ``retryable`` tells the outbox whether trying the same message again later can succeed
    (server down, rate limit, a config fix on reload) or never will (the message or its
    recipient was rejected for good).

    >>> NotifyError("smtp 127.0.0.1:25: connection refused").retryable
    True
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
