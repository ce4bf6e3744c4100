"""Debian's Alertmanager on a loopback port, cluster off, a receiver that sends nothing.

>>> with RunningAlertmanager(tmp_path) as am:   # doctest: +SKIP
...     alerts = am.alerts()
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.daemon import free_port

BINARY = "/usr/bin/prometheus-alertmanager"
CONFIG = """
route:
  receiver: "null"
  group_wait: 1h
receivers:
  - name: "null"
"""


def available() -> bool:
    return shutil.which(BINARY) is not None


class RunningAlertmanager:
    """Starts on enter, stops (and reaps) on exit."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = workdir
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RunningAlertmanager:
        cfg = self._dir / "alertmanager.yml"
        cfg.write_text(CONFIG)
        (self._dir / "am-data").mkdir(exist_ok=True)
        self._log = (self._dir / "alertmanager.log").open("wb")
        self._proc = subprocess.Popen(
            [BINARY, f"--config.file={cfg}", f"--storage.path={self._dir / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"alertmanager exited: {self._read_log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"alertmanager not ready in 15 s: {self._read_log()}")

    def _read_log(self) -> str:
        return (self._dir / "alertmanager.log").read_text(errors="replace")[-2000:]

    def alerts(self, query: str = "") -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts{query}", timeout=5) as r:
            doc: list[dict[str, Any]] = json.load(r)
            return doc

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._log.close()
