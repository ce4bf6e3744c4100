"""README "Install", step by step, in a temporary root: the wheel installs into a fresh venv,
the example config is valid once its secrets exist, and both `check-config` and `run` work as an
unprivileged user with the unit's settings (user, umask, state directory, environment file).

The steps are read from the README's code block and run with the paths moved under the
temporary root: `/opt`, `/etc`, `/usr` become ROOT/opt... The service user `netwatch` and its
group are played by `nobody`/`nogroup` (creating a user on this machine would outlive the test;
`systemd-sysusers --root ROOT` still checks the sysusers file). The fresh venv gets the wheel
without its dependencies (offline), which a `.pth` file finds in a copy of the test
environment's: the package under test is the wheel's copy, never the source tree (asserted).
`run` runs inside a network namespace holding only `lo`, so the example's 10.x devices cannot
be reached: nothing leaves the machine.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.netns import Netns

pytestmark = pytest.mark.peer

PROJECT = Path(__file__).resolve().parents[2]
README = PROJECT / "README.md"
UNIT = PROJECT / "systemd" / "netwatch.service"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's: readable by every user, unlike a Python under /root
USER, GROUP = "nobody", "nogroup"  # stand in for netwatch:netwatch
SECRET_VALUE = "s3cret-value-for-the-install-test"


def install_steps() -> list[str]:
    """The commands of README "Install", comments and blank lines left out."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Install\n") :]
    block = section[section.index("```sh\n") + len("```sh\n") :]
    block = block[: block.index("```\n")]
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def unit_settings() -> dict[str, str]:
    settings: dict[str, str] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            settings.setdefault(key.strip(), value.strip())
    return settings


def _moved(line: str, root: Path) -> str:
    """The command with system paths under ``root`` and the service user played by nobody."""
    line = re.sub(r"(?<![\w./-])/(opt|etc|usr)/", f"{root}/\\1/", line)
    line = line.replace("-g netwatch", f"-g {GROUP}").replace("-u netwatch", f"-u {USER}")
    return line


def translate(line: str, root: Path, wheel: Path) -> list[str]:
    """One README step as run here; what only a real system can do is left out."""
    if line.startswith("systemctl "):
        return []  # no systemd to start it under: `run` is exercised below instead
    if line.startswith("ln -sf "):
        target = _moved(line, root).split()[-1]
        return [f"mkdir -p {os.path.dirname(target)}", _moved(line, root)]
    if line == "systemd-sysusers":
        return [f"systemd-sysusers --root={root}"]
    if line.startswith("python3 -m venv "):
        return [SYSTEM_PYTHON + _moved(line, root).removeprefix("python3")]
    match = re.fullmatch(r"(/opt/netwatch/bin/pip) install \./netwatch-\*\.whl", line)
    if match:
        # Offline and without dependencies: a copy of the test environment's (.pth).
        deps = _copy_dependencies(root / "deps")
        site = root / "opt/netwatch/lib/python3.11/site-packages"
        return [
            f"{_moved(match.group(1), root)} install --quiet --no-index --no-deps {wheel}",
            f"echo {deps} > {site}/test-dependencies.pth",
        ]
    return [_moved(line, root)]


def _copy_dependencies(dest: Path) -> Path:
    """The installed files of netwatch's runtime dependencies, transitively, copied to ``dest``:
    the test's own environment may sit where the service user cannot read (under /root)."""
    seen: set[str] = set()
    todo = list(metadata.requires("netwatch") or [])
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(req.name)
        for file in dist.files or []:
            if file.parts[0] == "..":  # console scripts in bin/: not needed
                continue
            target = dest / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(str(dist.locate_file(file))), target)
        todo.extend(dist.requires or [])
    return dest


@pytest.fixture(scope="module")
def wheel() -> Iterator[Path]:
    out = Path(tempfile.mkdtemp(prefix="nw-wheel-"))
    # Built from a copy: setuptools leaves build/ and *.egg-info behind, and a stale build/
    # in the source tree would put old files into the next wheel.
    tree = out / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for part in ("netwatch", "config", "systemd"):
        shutil.copytree(PROJECT / part, tree / part, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT / name, tree / name)
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), "."],
            cwd=tree,
            check=True,
            capture_output=True,
            timeout=300,
        )
        (built,) = out.glob("netwatch-*.whl")
        yield built
    finally:
        shutil.rmtree(out, ignore_errors=True)


@pytest.fixture
def root() -> Iterator[Path]:
    # Not pytest's tmp_path: /tmp/pytest-of-root is 0700, which nobody cannot enter.
    path = Path(tempfile.mkdtemp(prefix="nw-root-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{root}/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def _provide_secrets(root: Path) -> list[str]:
    """The README's "now the secrets" step for the example: an env line per {env: NAME}, a
    0640 file per {file: ...}, the CA bundle it names copied from the source tree."""
    etc = root / "etc/netwatch"
    configs = [etc / "netwatch.yaml", *sorted((etc / "districts").glob("*.yaml"))]
    names: set[str] = set()
    files: set[Path] = set()
    for config in configs:
        text = config.read_text(encoding="utf-8")
        names.update(re.findall(r"\{env: (\w+)\}", re.sub(r"#.*", "", text)))
        for ref in re.findall(r"(?:\{file: |ca_file: )([\w./-]+)", re.sub(r"#.*", "", text)):
            files.add(Path(os.path.normpath(config.parent / ref)))
    steps = [f"echo {name}={SECRET_VALUE} >> {etc}/netwatch.env" for name in sorted(names)]
    for path in sorted(files):
        assert path.parent == etc / "secrets", path  # every one where the README says
        source = PROJECT / "config/secrets" / path.name
        if path.suffix == ".pem":
            steps.append(f"install -m 0640 -g {GROUP} {source} {path}")
        else:
            steps.append(f"echo {SECRET_VALUE} | install -m 0640 -g {GROUP} /dev/stdin {path}")
    return steps


def _run_steps(steps: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    script = "set -euo pipefail\n" + "\n".join(steps) + "\n"
    return subprocess.run(
        ["bash", "-c", script],
        cwd=root,  # not the source tree, which Python would import from
        env=_environment(root),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_readme_install_gives_a_service_that_works_as_its_own_user(wheel: Path, root: Path) -> None:
    """Every README step runs; check-config as the service user says OK; the installed unit's
    Documentation= exists; `run` as that user with the unit's umask starts, writes its state
    (owned by it, nothing group-writable or world-readable) and stops cleanly."""
    if os.geteuid() != 0:
        pytest.skip("needs root: installs files owned by another user and switches to it")
    for tool in ("runuser", "setpriv", "systemd-sysusers", SYSTEM_PYTHON):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    steps = install_steps()
    check = next(i for i, line in enumerate(steps) if "check-config" in line)
    before = [cmd for line in steps[:check] for cmd in translate(line, root, wheel)]
    done = _run_steps(before, root)
    assert done.returncode == 0, done.stderr
    assert "netwatch:" in (root / "etc/passwd").read_text()  # the sysusers file is valid
    after = [cmd for line in steps[check:] for cmd in translate(line, root, wheel)]
    done = _run_steps(_provide_secrets(root) + after, root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ": OK: " in done.stdout, done.stdout
    assert SECRET_VALUE not in done.stdout + done.stderr

    # The installed package is the wheel's, with its package data, and on PATH.
    netwatch = root / "usr/local/bin/netwatch"
    env = _environment(root)
    where = subprocess.run(
        ["runuser", "-u", USER, "--", str(root / "opt/netwatch/bin/python"), "-c",
         "import netwatch, pathlib; print(pathlib.Path(netwatch.__file__).parent)"],
        env=env, cwd=root, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    package = Path(where.stdout.strip())
    assert package.is_relative_to(root / "opt/netwatch"), package
    assert (package / "web/static/netwatch.css").is_file()
    assert (package / "web/static/netwatch.js").is_file()
    help_text = subprocess.run(
        ["runuser", "-u", USER, "--", "netwatch", "--help"],
        env=env, cwd=root, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert "check-config" in help_text
    unit = (root / "etc/systemd/system/netwatch.service").read_text(encoding="utf-8")
    (doc,) = re.findall(r"^Documentation=file://(\S+)$", unit, re.MULTILINE)
    assert (root / doc.lstrip("/")).is_file(), doc

    _run_as_the_unit(root, netwatch, env)


def _run_as_the_unit(root: Path, netwatch: Path, env: dict[str, str]) -> None:
    settings = unit_settings()
    assert settings["User"] == "netwatch"
    assert settings["Group"] == "netwatch"
    assert settings["EnvironmentFile"] == "-/etc/netwatch/netwatch.env"
    config = root / "etc/netwatch/netwatch.yaml"
    # systemd's StateDirectory=: /var/lib/NAME, owned by the unit's user, StateDirectoryMode.
    state = root / "var/lib" / settings["StateDirectory"]
    state.mkdir(parents=True)
    user = pwd.getpwnam(USER)
    os.chown(state, user.pw_uid, user.pw_gid)
    state.chmod(int(settings["StateDirectoryMode"], 8))
    # The admin's one edit for this test: the state directory under the temporary root.
    text = config.read_text(encoding="utf-8")
    assert "data_dir: /var/lib/netwatch" in text
    config.write_text(text.replace("data_dir: /var/lib/netwatch", f"data_dir: {state}"))
    for line in (root / "etc/netwatch/netwatch.env").read_text().splitlines():
        name, _, value = line.partition("=")
        env[name] = value
    umask = settings["UMask"]
    argv = [
        "setpriv", f"--reuid={USER}", f"--regid={GROUP}", "--clear-groups",
        "sh", "-c", f'umask {umask}; exec "$0" -c "$1" run', str(netwatch), str(config),
    ]  # fmt: skip
    log = root / "netwatch.log"  # a file, not a pipe: a full pipe would stall the daemon
    with Netns() as ns, log.open("w") as out:
        proc = ns.popen(argv, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT)
        probe = (
            "import sys, urllib.request\n"
            "try:\n"
            "    urllib.request.urlopen('http://127.0.0.1:9430/-/ready', timeout=2)\n"
            "except Exception as exc:\n"
            "    sys.exit(str(exc))\n"
        )
        deadline = time.monotonic() + 60
        while ns.run([sys.executable, "-c", probe], check=False, timeout=30).returncode != 0:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "netwatch run never became ready"
            time.sleep(0.5)
        history = state / "history.sqlite"
        deadline = time.monotonic() + 30
        while not history.exists():
            assert time.monotonic() < deadline, sorted(state.iterdir())
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    stderr = log.read_text()
    assert proc.returncode == 0, stderr
    assert "Permission denied" not in stderr, stderr
    assert "Traceback" not in stderr, stderr
    assert SECRET_VALUE not in stderr
    made = list(state.rglob("*"))
    assert made, "nothing written to the state directory"
    for path in made:
        info = path.stat()
        assert info.st_uid == user.pw_uid, path
        assert info.st_mode & 0o027 == 0, (path, oct(info.st_mode))
