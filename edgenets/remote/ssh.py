"""One board, one ``ssh`` process: host specs, the command line, streaming, and ssh's errors in one line.

``run`` starts the system OpenSSH client with ``BatchMode=yes`` (never a prompt, never a password),
feeds a payload to its stdin from one thread, streams its stderr line by line to a callback from
another, and collects stdout. Host-key checking is whatever the user's ssh configuration says; nothing
here weakens it. Every running ssh process is registered so that an interrupt can end them all.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Optional, Sequence

from edgenets.errors import InputError, MissingDependencyError

# Bounded waits for a board that is off or that vanishes mid-run (its Wi-Fi drops): connect within 20 s,
# and give up after 4 unanswered keep-alives 15 s apart. Everything else comes from the user's config.
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=15",
               "-o", "ServerAliveCountMax=4")

# Exit codes of the small shell prologue on the board (see fleet.py / setup.py).
NO_VENV = 97
NO_PYTHON = 98
SSH_FAILED = 255  # ssh's own failures (connect, auth, host key) and nothing else we send


@dataclass(frozen=True)
class Host:
    """A ``--remote`` host: ``host``, ``user@host``, ``user@host:port`` or ``user@[v6addr]:port``."""

    spec: str  # as the user wrote it: names the host in every message
    destination: str  # what ssh gets: [user@]host
    port: Optional[int] = None

    @property
    def slug(self) -> str:
        """The host in a file name: host[_port], without the user (pi@pi5.local:2222 -> pi5.local_2222)."""
        host = self.destination.rpartition("@")[2]
        text = host + (f"_{self.port}" if self.port else "")
        return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "host"


_BAD_CHARS = re.compile(r"[\s\x00-\x1f\x7f'\"`$;&|<>\\]")


def parse_host(spec: str, what: str = "--remote") -> Host:
    """Check a ``--remote`` value at the door; InputError names what is wrong with it (``what`` names the
    option or argument the host came from)."""
    text = spec.strip()
    if not text:
        raise InputError(f"{what}: empty host (use HOST, USER@HOST or USER@HOST:PORT, or an alias from ~/.ssh/config)")
    if text.startswith("-"):
        raise InputError(f"{what} {spec!r}: a host cannot start with '-'")
    if _BAD_CHARS.search(text):
        raise InputError(f"{what} {spec!r}: spaces, quotes and shell characters are not allowed in a host")
    user, at, host = text.rpartition("@")
    if at and not user:
        raise InputError(f"{what} {spec!r}: empty user before '@'")
    port: Optional[str] = None
    if host.startswith("["):  # [v6addr] or [v6addr]:port
        end = host.find("]")
        rest = host[end + 1:] if end >= 0 else ""
        if end < 0 or (rest and not rest.startswith(":")):
            raise InputError(f"{what} {spec!r}: expected [ADDRESS] or [ADDRESS]:PORT")
        port = rest[1:] if rest else None
        host = host[1:end]
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    if not host:
        raise InputError(f"{what} {spec!r}: no host name")
    number: Optional[int] = None
    if port is not None:
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise InputError(f"{what} {spec!r}: port must be a number 1..65535, got {port!r}")
        number = int(port)
    return Host(spec=text, destination=f"{user}@{host}" if user else host, port=number)


def parse_hosts(specs: Sequence[str], what: str = "--remote") -> list[Host]:
    hosts = [parse_host(s, what) for s in specs]
    seen: dict[str, Host] = {}
    for h in hosts:
        key = h.destination + f":{h.port}"
        if key in seen:
            raise InputError(f"{what} {h.spec}: given twice")
        seen[key] = h
    slugs: dict[str, Host] = {}
    for h in hosts:
        if h.slug in slugs:
            raise InputError(f"{what} {slugs[h.slug].spec} and {h.spec}: same host and port, their results would "
                             f"share one file name ({h.slug}); give them distinct Host aliases in your ssh config")
        slugs[h.slug] = h
    return hosts


def check_ssh_config(path: Optional[Path]) -> None:
    if path is not None and not Path(path).is_file():
        raise InputError(f"--ssh-config {path}: file not found")


def ssh_executable() -> str:
    found = shutil.which("ssh")
    if not found:
        raise MissingDependencyError("--remote needs the OpenSSH client (`ssh`) on this machine: "
                                     "apt install openssh-client (or your OS's package)")
    return found


def ssh_argv(host: Host, command: str, ssh_config: Optional[Path] = None) -> list[str]:
    argv = [ssh_executable(), "-T", *SSH_OPTIONS]
    if ssh_config is not None:
        argv += ["-F", str(ssh_config)]
    if host.port is not None:
        argv += ["-p", str(host.port)]
    return argv + ["--", host.destination, command]


def remote_path(path: str) -> str:
    """A board path for the remote shell: ``~`` and ``~/...`` expand to the login's home, the rest is quoted."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:]) if path[2:] else '"$HOME"'
    return shlex.quote(path)


# ------------------------------------------------------------------ running

_live: set[subprocess.Popen] = set()
_live_lock = threading.Lock()
_stopping = threading.Event()  # set by stop_all: no new ssh starts (a host between setup and bench, say)


class Stopped(RuntimeError):
    """stop_all() ran: this process is ending and starts no more ssh connections."""


def allow_new() -> None:
    """A new run (fleet.for_each_host) may start connections again after an earlier stop_all."""
    _stopping.clear()


def stop_all() -> None:
    """End every ssh process this module started (an interrupt, or an error in another thread), and refuse
    to start any more: a worker thread between two steps would otherwise open a connection nobody ends."""
    with _live_lock:
        _stopping.set()
        procs = list(_live)
    for proc in procs:
        if proc.poll() is None:
            proc.kill()


@dataclass
class Completed:
    returncode: int
    stdout: bytes
    stderr: list[str]


def run(host: Host, command: str, *, send: Optional[Callable[[BinaryIO], None]] = None,
        on_line: Optional[Callable[[str], None]] = None, ssh_config: Optional[Path] = None) -> Completed:
    """Run ``command`` on ``host`` through ssh; ``send`` writes the payload to its stdin (then closed).

    stderr lines reach ``on_line`` as they arrive (progress from the board, ssh's complaints) and are
    kept; stdout is returned whole. A board that stops reading stdin (it failed early) is not an error here.
    """
    argv = ssh_argv(host, command, ssh_config)
    with _live_lock:
        if _stopping.is_set():
            raise Stopped("stopping: no new ssh connection")
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _live.add(proc)
    lines: list[str] = []
    send_error: list[BaseException] = []

    def feed() -> None:
        try:
            if send is not None:
                send(proc.stdin)  # type: ignore[arg-type]
        except (BrokenPipeError, ConnectionResetError, ValueError):
            pass  # the other end is gone: its exit code and stderr say why
        except BaseException as exc:  # noqa: BLE001 - a local read error: reported by the caller
            send_error.append(exc)
            proc.kill()
        finally:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass

    def drain() -> None:
        for raw in proc.stderr:  # type: ignore[union-attr]
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(line)
            if on_line is not None and line.strip():
                on_line(line)

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=drain, daemon=True)]
    for t in threads:
        t.start()
    try:
        out = proc.stdout.read()  # type: ignore[union-attr]
        for t in threads:
            t.join()
        rc = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with _live_lock:
            _live.discard(proc)
    if send_error:
        raise send_error[0]
    return Completed(rc, out, lines)


# ------------------------------------------------------------------ ssh's errors in one line

_NOISE = (re.compile(r"^Warning: Permanently added "), re.compile(r"^@+"), re.compile(r"^\s*$"),
          re.compile(r"^Connection to .* closed"), re.compile(r"^Pseudo-terminal will not be allocated"))


def ssh_failure(lines: Sequence[str]) -> str:
    """The useful line of a failed ssh (exit 255), with what to do where ssh's line alone does not say."""
    text = "\n".join(lines)
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        offending = next((m.group(1) for line in lines if (m := re.search(r"Offending .* key in (\S+)", line))), None)
        where = f" (stored in {offending})" if offending else ""
        return ("host key verification failed: the board's host key has CHANGED since it was stored in known_hosts"
                f"{where}; if the board was reinstalled, remove the old key with `ssh-keygen -R HOST` and connect "
                "once with `ssh` to check and store the new one")
    unknown = next((line for line in lines if "host key is known for" in line), None)
    if unknown is not None:
        return (f"host key verification failed: {unknown.strip().rstrip('.')}; connect once with `ssh` "
                "to check and store the board's host key")
    denied = next((line for line in lines if "Permission denied" in line), None)
    if denied is not None:
        return (f"{denied.strip().rstrip('.')}: the board refused every key offered (BatchMode: no password "
                "prompts); add your public key to the board's ~/.ssh/authorized_keys (ssh-copy-id)")
    if any("Host key verification failed" in line for line in lines):
        return ("host key verification failed: the board's host key is not in known_hosts (or does not match it); "
                "connect once with `ssh` to check and store it")
    useful = [line.strip() for line in lines if not any(p.search(line) for p in _NOISE)]
    if useful:
        return useful[-1]
    return "ssh failed (exit code 255) without saying why"


def is_ssh_failure(returncode: int) -> bool:
    return returncode == SSH_FAILED
