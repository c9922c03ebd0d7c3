"""``edgenets board setup HOST``: a venv on the board with THIS edgenets in it, over one ssh connection.

The desktop builds a wheel of the edgenets it is running (``pip wheel --no-deps`` of the source
checkout it was imported from; an installed edgenets needs ``--wheel PATH``), pushes it over ssh with
an optional ``--wheelhouse`` of dependency wheels, and the board's Python (``_board.py``, action
``setup``) creates the venv if needed, installs the wheel with its ``[device]`` dependencies (from
PyPI, or ``pip install --no-index --find-links`` the pushed wheelhouse for boards without internet),
and checks that edgenets and a TFLite runtime import there.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional

from edgenets.errors import EdgenetsError, InputError, first_line
from edgenets.remote import ssh

Log = Callable[[str], None]
EXTRA = "device"
_WHEEL_NAME = re.compile(r"^edgenets-([^-]+)-.+\.whl$")


@dataclass(frozen=True)
class SetupRequest:
    """What every host gets: the wheel, the wheelhouse, and how to make the venv."""

    wheel: Path
    version: str
    wheelhouse: Optional[Path] = None
    system_site_packages: bool = False
    python: str = "python3"  # the board's Python that creates the venv

    def wheels(self) -> list[Path]:
        return sorted(self.wheelhouse.glob("*.whl")) if self.wheelhouse else []

    def write(self, stream: BinaryIO) -> None:
        """The upload as a tar stream: the wheel at the top, the wheelhouse under wheelhouse/."""
        with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT, dereference=True) as tar:  # links: their files
            tar.add(str(self.wheel), arcname=self.wheel.name, recursive=False)
            for w in self.wheels():
                tar.add(str(w), arcname=f"wheelhouse/{w.name}", recursive=False)


@dataclass
class SetupResult:
    host: ssh.Host
    facts: Optional[dict] = None  # version, python, machine, runtime, prefix (from the board)
    error: Optional[str] = None
    seconds: float = 0.0

    def summary(self, venv: str) -> str:
        f = self.facts or {}
        return (f"{self.host.spec}: ready: edgenets {f.get('version')} in {venv} "
                f"(Python {f.get('python')}, {f.get('machine')}, {f.get('runtime')}; {self.seconds:.0f} s)")


# ------------------------------------------------------------------ the wheel


def source_checkout() -> Optional[Path]:
    """The source tree the running edgenets was imported from (with its pyproject.toml), or None."""
    import edgenets

    root = Path(edgenets.__file__).resolve().parent.parent
    project = root / "pyproject.toml"
    try:
        text = project.read_text(encoding="utf-8")
    except OSError:
        return None
    return root if re.search(r'^name\s*=\s*"edgenets"\s*$', text, re.MULTILINE) else None


def check_wheel(path: Path) -> str:
    """``--wheel PATH``: an edgenets wheel that exists; returns its version."""
    if not path.is_file():
        raise InputError(f"--wheel {path}: file not found")
    match = _WHEEL_NAME.match(path.name)
    if not match:
        raise InputError(f"--wheel {path}: not an edgenets wheel (expected edgenets-VERSION-...whl)")
    return match.group(1)


def check_wheelhouse(path: Optional[Path]) -> None:
    if path is None:
        return
    if not path.is_dir():
        raise InputError(f"--wheelhouse {path}: not a folder")
    if not any(path.glob("*.whl")):
        raise InputError(f"--wheelhouse {path}: holds no .whl files")


def build_wheel(out_dir: Path, log: Optional[Log] = None) -> Path:
    """``pip wheel --no-deps`` of the checkout this edgenets runs from, built from a copy of it.

    The copy (pyproject.toml, README, the package) keeps build/ and *.egg-info out of the checkout. It is
    tried without build isolation first (offline, with this venv's setuptools), then with it (pip fetches
    the build backend the project asks for).
    """
    from edgenets import __version__

    root = source_checkout()
    if root is None:
        raise InputError("this edgenets is an installed package, not a source checkout: build a wheel where the "
                         "source is (python -m pip wheel --no-deps -w dist .) and pass --wheel PATH")
    src = out_dir / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "setup.cfg", "setup.py", "MANIFEST.in"):
        if (root / name).is_file():
            shutil.copy2(root / name, src / name)
    shutil.copytree(root / "edgenets", src / "edgenets", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = out_dir / "dist"
    base = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(dist)]
    if log:
        log(f"building the edgenets {__version__} wheel from {root}")
    problems = []
    for extra in (["--no-build-isolation"], []):
        proc = subprocess.run([*base, *extra, str(src)], stdin=subprocess.DEVNULL, capture_output=True, text=True)
        wheels = sorted(dist.glob("edgenets-*.whl"))
        if proc.returncode == 0 and wheels:
            return wheels[0]
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        problems.append(next((ln for ln in reversed(lines) if "rror" in ln and "subprocess" not in ln),
                             lines[-1] if lines else f"exit code {proc.returncode}"))
    raise EdgenetsError(f"could not build the edgenets wheel from {root} ({problems[-1]}); build one yourself and pass --wheel PATH")


@contextlib.contextmanager
def setup_request(wheel: Optional[Path] = None, wheelhouse: Optional[Path] = None, *,
                  system_site_packages: bool = False, python: str = "python3",
                  log: Optional[Log] = None) -> Iterator[SetupRequest]:
    """The request for every host; a wheel built here lives in a temporary folder until the block ends."""
    from edgenets import __version__

    check_wheelhouse(wheelhouse)
    check_python(python)
    if wheel is not None:
        version = check_wheel(wheel)
        if version != __version__ and log:
            log(f"warning: --wheel {wheel.name} is edgenets {version}; this desktop runs {__version__}")
        yield SetupRequest(wheel, version, wheelhouse, system_site_packages, python)
        return
    with tempfile.TemporaryDirectory(prefix="edgenets-wheel-") as tmp:
        built = build_wheel(Path(tmp), log)
        yield SetupRequest(built, __version__, wheelhouse, system_site_packages, python)


def check_python(python: str) -> None:
    if not python.strip() or python.startswith("-") or re.search(r"[\s'\"`$;&|<>\\]", python):
        raise InputError(f"--remote-python {python!r}: expected a command or path like python3 or /usr/bin/python3.11")


# ------------------------------------------------------------------ one host


def board_script() -> str:
    return (Path(__file__).with_name("_board.py")).read_text(encoding="utf-8")


def parse_reply(stdout: bytes) -> Optional[dict]:
    """The board's last ``EDGENETS-REMOTE-REPLY {json}`` line (login scripts may print junk before it)."""
    marker = b"EDGENETS-REMOTE-REPLY "
    for line in reversed(stdout.splitlines()):
        if line.startswith(marker):
            try:
                found = json.loads(line[len(marker):].decode("utf-8"))
            except ValueError:
                return None
            return found if isinstance(found, dict) else None
    return None


def board_failure(host: ssh.Host, done: ssh.Completed, *, venv: str, python: Optional[str] = None) -> str:
    """Why a host failed, in one line, from the exit code and the board's / ssh's stderr (no reply came)."""
    if ssh.is_ssh_failure(done.returncode):
        return ssh.ssh_failure(done.stderr)
    if done.returncode == ssh.NO_VENV:
        return f"no venv at {venv} on the board (no bin/python): run `{setup_hint(host, venv)}` (or pass --remote-venv PATH)"
    if done.returncode == ssh.NO_PYTHON:
        return f"no Python on the board ({python or 'python3'} not found): install python3 there (sudo apt install python3-venv)"
    lines = [ln.strip() for ln in done.stderr if ln.strip()]
    last = lines[-1] if lines else "nothing on stderr"
    if done.returncode < 0 or done.returncode > 128:
        return f"the board's Python died (exit code {done.returncode}): {last}"
    return f"the board's Python failed (exit code {done.returncode}) without a reply: {last}"


def setup_hint(host: ssh.Host, venv: str) -> str:
    from edgenets.remote import DEFAULT_VENV

    return f"edgenets board setup {host.spec}" + (f" --remote-venv {shlex.quote(venv)}" if venv != DEFAULT_VENV else "")


def python_command(interpreter: str, request: dict, *, check: str) -> str:
    """The remote shell command: check the interpreter exists (exit 97/98 if not), then run _board.py in it."""
    code = shlex.quote(board_script())
    arg = shlex.quote(json.dumps(request))
    if check == "venv":
        return (f"PY={interpreter}; if [ ! -x \"$PY\" ]; then echo \"edgenets: no venv python at $PY\" >&2; "
                f"exit {ssh.NO_VENV}; fi; exec \"$PY\" -c {code} {arg}")
    return (f"if ! command -v {interpreter} >/dev/null 2>&1; then echo \"edgenets: no {interpreter} on the board\" >&2; "
            f"exit {ssh.NO_PYTHON}; fi; exec {interpreter} -c {code} {arg}")


def setup_host(host: ssh.Host, req: SetupRequest, *, venv: str, ssh_config: Optional[Path] = None,
               log: Optional[Log] = None) -> SetupResult:
    """Create or update the venv on ``host``; never raises for the board's failures (they are ``error``)."""
    start = time.monotonic()
    result = SetupResult(host)
    request = {"action": "setup", "venv": venv, "wheel": req.wheel.name, "version": req.version, "extra": EXTRA,
               "offline": req.wheelhouse is not None, "system_site_packages": req.system_site_packages}
    command = python_command(shlex.quote(req.python), request, check="python")
    try:
        done = ssh.run(host, command, send=req.write, ssh_config=ssh_config,
                       on_line=(lambda line: log(f"[{host.spec}] {line}")) if log else None)
    except OSError as exc:
        result.error = f"reading the upload failed: {first_line(exc)}"
        return result
    reply = parse_reply(done.stdout)
    if reply is None:
        result.error = board_failure(host, done, venv=venv, python=req.python)
    elif not reply.get("ok"):
        result.error = str(reply.get("error") or "setup failed on the board")
    else:
        result.facts = {k: v for k, v in reply.items() if k != "ok"}
    result.seconds = time.monotonic() - start
    return result
