"""Run the real ``netwatch`` command as a subprocess for integration tests.

>>> with RunningDaemon(config_path, port) as d:   # doctest: +SKIP
...     d.wait_ready(); text = d.get("/metrics")
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def netwatch_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "netwatch", *args]


class RunningDaemon:
    """``netwatch run`` on a config; its stderr is collected in ``log`` as it comes."""

    def __init__(
        self,
        config: Path,
        port: int,
        *,
        prefix: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.port = port
        self._prefix = prefix or []
        self._env = {**os.environ, **(env or {})}
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self.proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> RunningDaemon:
        argv = [
            *self._prefix,
            *netwatch_argv(
                "-c", str(self.config), "--log-format", "text", "--log-level", "debug", "run"
            ),
        ]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=self._env
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        if self._reader is not None:
            self._reader.join(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()

    def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self._lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        with self._lock:
            return "\n".join(self._lines)

    def wait_for_log(self, text: str, timeout: float) -> float:
        """Wait until ``text`` appears in the log; return the monotonic time it was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log:
                return time.monotonic()
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"netwatch exited {self.proc.returncode}:\n{self.log}")
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged within {timeout}s; log:\n{self.log[-4000:]}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url(path), timeout=5) as resp:
            body: bytes = resp.read()
            return body.decode()

    def post(self, path: str, token: str | None = None) -> tuple[int, str]:
        req = urllib.request.Request(self.url(path), method="POST", data=b"")
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"netwatch exited {self.proc.returncode}:\n{self.log}")
            try:
                self.get("/-/ready")
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"netwatch not ready within {timeout}s:\n{self.log}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGTERM; return the exit code and how long the stop took."""
        assert self.proc is not None
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - start


def write_config(directory: Path, text: str, name: str = "netwatch.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def temp_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="netwatch-test-"))


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of the first series of ``name`` whose labels include ``labels``."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None
