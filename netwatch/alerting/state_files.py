"""The alerting state a restart must not forget, kept in ``agent.data_dir`` beside the engine:
the open incidents with their acks (``incidents.json``), the silences and maintenance windows
added over the API (``operator.json``; the config's windows come from the config) and the sites
on UPS battery (``power.json``, from ``power.PowerWatch``).

Read once at start into the engine; written after each tick that delivered messages or saw an
operator's change, after the outbox took the deliveries (a crash in between repeats a message,
never loses one). A write that fails (full disk) keeps the previous files and is retried at each
tick until it works; ``error`` and ``errors`` say so for ``/-/ready`` and the metrics.

>>> files = StateFiles(Path("/var/lib/netwatch"), engine, clock=time.time)  # doctest: +SKIP
>>> await files.restore()  # at start  # doctest: +SKIP
>>> await files.after_tick(delivered=True)  # after each tick  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from netwatch.alerting.engine import AlertEngine
from netwatch.alerting.incidents import Incident, incidents_from_json, incidents_to_json
from netwatch.alerting.maintenance import operator_from_json, operator_to_json
from netwatch.alerting.power import PowerWatch
from netwatch.settings.alerting import MaintenanceWindow, Silence

log = logging.getLogger(__name__)

INCIDENTS_FILE = "incidents.json"  # the alert engine's open incidents, kept across restarts
OPERATOR_FILE = "operator.json"  # silences and maintenance windows added over the API, likewise
POWER_FILE = "power.json"  # the sites on UPS battery, likewise
STATE_LOG_EVERY = 60.0  # seconds: at most one "still not saved" line per this while the disk fails


class StateFiles:
    """The engine's open incidents and the operator's silences and windows, on disk.

    ``config_windows`` are the config's maintenance windows: never saved (the config has them),
    and replaced as a whole by ``set_config_windows`` at a reload.
    """

    def __init__(
        self,
        data_dir: Path,
        engine: AlertEngine,
        *,
        config_windows: tuple[MaintenanceWindow, ...] = (),
        clock: Callable[[], float] = time.time,
        retry_every: float = 1.0,
        power: PowerWatch | None = None,
    ) -> None:
        self.incidents_path = data_dir / INCIDENTS_FILE
        self.operator_path = data_dir / OPERATOR_FILE
        self.power_path = data_dir / POWER_FILE
        self._engine = engine
        self._power = power if power is not None else PowerWatch()
        self._saved_power = self._power.revision
        self._config_windows = config_windows
        self._clock = clock
        self._retry_every = retry_every  # only for the log line: the caller's tick
        self._saved_revision = engine.revision  # the engine's revision last written
        self.error: str | None = None  # why the last save failed; None once one worked
        self.errors = 0  # failed saves since start
        self._logged_at = -STATE_LOG_EVERY

    async def restore(self) -> None:
        """Give the engine what the previous run left (a missing or bad file: nothing)."""
        engine = self._engine
        engine.adopt(await asyncio.to_thread(read_incidents, self.incidents_path))
        silences, windows = await asyncio.to_thread(read_operator, self.operator_path)
        for silence in silences:
            engine.silence(silence)
        for window in windows:
            engine.add_window(window)
        await asyncio.to_thread(read_power, self.power_path, self._power)
        self._saved_revision = engine.revision
        self._saved_power = self._power.revision

    def set_config_windows(self, windows: tuple[MaintenanceWindow, ...]) -> None:
        """The old config's windows go, the new config's come; those added over the API stay."""
        for window in self._config_windows:
            self._engine.remove_window(window.id)
        for window in windows:
            self._engine.add_window(window)
        self._config_windows = windows

    async def after_tick(self, *, delivered: bool) -> None:
        """Save when messages went out, the operator changed something, a site went on
        battery or back on mains, or the last save failed (try again)."""
        changed = (self._engine.revision, self._power.revision) != (
            self._saved_revision,
            self._saved_power,
        )
        if delivered or changed or self.error is not None:
            await self.save()

    async def save(self) -> None:
        """Write the files; on failure keep the old ones and remember why (retried by
        ``after_tick``), logging at most once per ``STATE_LOG_EVERY``."""
        engine = self._engine
        revision, power_revision = engine.revision, self._power.revision
        now = self._clock()
        from_config = {w.id for w in self._config_windows}
        incidents = incidents_to_json(engine.open_incidents())
        operator = operator_to_json(
            [s for s in engine.silences() if s.until > now],
            [w for w in engine.windows() if w.id not in from_config and not w.over(now)],
        )
        errors: list[str] = []
        files = (
            (self.incidents_path, incidents),
            (self.operator_path, operator),
            (self.power_path, self._power.to_json()),
        )
        for path, text in files:
            error = await asyncio.to_thread(write_atomically, path, text, log_errors=False)
            if error is not None:
                errors.append(f"{path}: {error.strerror or error}")
        if not errors:
            self._saved_revision, self._saved_power = revision, power_revision
            if self.error is not None:
                log.warning(
                    "incidents and operator changes saved again to %s", self.incidents_path.parent
                )
            self.error = None
            return
        # The old files stay; the next tick tries again (the revision is not marked saved).
        self.errors += 1
        first = self.error is None
        self.error = "; ".join(errors)
        mono = time.monotonic()
        if first or mono - self._logged_at >= STATE_LOG_EVERY:
            self._logged_at = mono
            log.error("not saved: %s; the previous files are kept and the save is retried "
                      "every %gs", self.error, self._retry_every)  # fmt: skip


def read_incidents(path: Path) -> list[Incident]:
    """The open incidents the previous run left; none when there is no (readable) file.
    Entries that cannot be read are logged and skipped, the rest kept."""
    errors: list[str] = []
    try:
        found = incidents_from_json(path.read_text(encoding="utf-8"), errors)
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError) as exc:
        log.warning("open incidents of the previous run not read from %s: %s", path, exc)
        return []
    for error in errors:
        log.warning("%s: skipped %s", path, error)
    return found


def read_operator(path: Path) -> tuple[list[Silence], list[MaintenanceWindow]]:
    """The silences and windows added over the API before the restart; entries that cannot be
    read are logged and skipped, the rest kept. Expired ones are dropped by the next save."""
    try:
        silences, windows, errors = operator_from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], []
    except (OSError, ValueError) as exc:
        log.warning("silences and maintenance windows of the previous run not read from %s: %s",
                    path, exc)  # fmt: skip
        return [], []
    for error in errors:
        log.warning("%s: skipped %s", path, error)
    return silences, windows


def read_power(path: Path, power: PowerWatch) -> None:
    """Give ``power`` the sites the previous run saw on battery; entries that cannot be read
    are logged and skipped. No file, or one that cannot be read: none (logged)."""
    errors: list[str] = []
    try:
        power.adopt(path.read_text(encoding="utf-8"), errors)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        log.warning("sites on UPS battery of the previous run not read from %s: %s", path, exc)
        return
    for error in errors:
        log.warning("%s: skipped %s", path, error)


def write_atomically(path: Path, text: str, *, log_errors: bool = True) -> OSError | None:
    """Write-then-rename, so a crash leaves the old file or the new one, never half of one.
    A failure (full disk) keeps the old file, removes the partial one and is returned (and
    logged unless the caller does it): the alerts still go out; the caller retries."""
    tmp = path.with_suffix(".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp.is_file():  # a half-written copy only takes the space the disk lacks
            with contextlib.suppress(OSError):
                tmp.unlink()
        if log_errors:
            log.error("not saved to %s: %s", path, exc)
        return exc
    return None
