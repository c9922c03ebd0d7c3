"""The emulated Raspberry Pi OS boards (board/build.py, `make board`) for tests: find one, run a guest command.

    from boards import find_board

    board = find_board("arm64")            # or "armhf"; None when not built
    if board is None:
        pytest.skip(NOT_BUILT.format(arch="arm64"))
    work = board.workdir()                  # a folder the guest user owns (pytest's tmp dirs are 0700 root)
    shutil.copyfile(model, work / "m.tflite")
    proc = board.run([board.python, "-m", "edgenets", "bench", work / "m.tflite", "--output", work / "r.json"])

Guest programs never run as root, and get no capability: under qemu -L a guest path missing from the sysroot
is the host's, so a privileged guest could write anywhere. When the test process is root, :meth:`Board.run`
runs the command as the board's unprivileged user (``setpriv``). Give the guest its files in
:meth:`Board.workdir` (a folder in the boards' scratch area that the user owns): pytest's tmp folders are 0700
root, and pytest resets its root folder to 0700 whenever another session starts. As a normal user the guest
runs as the caller. No pytest fixtures.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

REPO = Path(__file__).resolve().parents[1]
ARCHES = ("arm64", "armhf")
BOARD_USER = "edgenets-board"  # created by board/build.py when it runs as root
DEFAULT_TIMEOUT_S = 900  # an emulated `edgenets bench` of a few models takes tens of seconds
NOT_BUILT = "the emulated {arch} board is not built: run `make board`"

PathLike = Union[str, Path]


def _builder():
    """board/build.py as a module (one list of what a guest must not inherit, kept there)."""
    import importlib.util
    import sys

    module = sys.modules.get("edgenets_board_build")
    if module is None:
        spec = importlib.util.spec_from_file_location("edgenets_board_build", REPO / "board" / "build.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up by name
        spec.loader.exec_module(module)
    return module


def board_dir() -> Path:
    """Where `make board` puts the boards: $BOARD_DIR (relative to the checkout), else <checkout>/.board."""
    value = os.environ.get("BOARD_DIR", "").strip()
    if not value:
        return REPO / ".board"
    path = Path(value)
    return path if path.is_absolute() else REPO / path


@dataclass(frozen=True)
class Board:
    arch: str  # "arm64" or "armhf"
    root: Path  # <board_dir>/<arch>
    python: Path  # the venv's python: a host-runnable wrapper that starts the emulated Python 3.11
    user: Optional[str]  # the account guest programs run as when this process is root, else None
    info: dict = field(repr=False)  # board.json: machine, python, qemu, emulated, runtime, packages, sizes

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def sysroot(self) -> Path:
        return self.root / "sysroot"

    @property
    def emulated(self) -> str:
        """What EDGENETS_EMULATED says in this board, e.g. 'qemu-user 7.2.22 cortex-a76, Debian bookworm arm64'."""
        return self.info["emulated"]

    def env(self, extra: Optional[dict] = None) -> dict:
        """The environment for a guest command: the caller's, less host-Python and pip settings."""
        env = _builder().host_environ_for_guest()
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        if self.user is not None:
            env.update({"HOME": str(board_dir() / "home"),  # build.py's, whichever checkout made the user
                        "USER": self.user, "LOGNAME": self.user})
        env.update(extra or {})
        return env

    def command(self, args: Sequence[PathLike]) -> list:
        """``args`` as the host must start them: behind setpriv when this process is root."""
        args = [str(a) for a in args]
        if self.user is None:
            return args
        entry = pwd.getpwnam(self.user)
        return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", "--", *args]

    def run(self, args: Sequence[PathLike], *, timeout: Optional[float] = DEFAULT_TIMEOUT_S,
            env: Optional[dict] = None, **kwargs) -> subprocess.CompletedProcess:
        """Run a guest command, e.g. ``[board.python, "-m", "edgenets", "bench", ...]``, as the board user.

        Output is captured as text unless the caller says otherwise; ``env`` adds to :meth:`env`; the
        working directory defaults to the boards' scratch folder (the caller's may be closed to the user).
        Raises subprocess.TimeoutExpired past ``timeout`` seconds, like subprocess.run.
        """
        kwargs.setdefault("text", True)
        if kwargs.pop("capture_output", not any(k in kwargs for k in ("stdout", "stderr"))):
            kwargs["stdout"] = kwargs["stderr"] = subprocess.PIPE
        kwargs.setdefault("cwd", str(board_dir() / "work"))
        data = kwargs.pop("input", None)
        if data is not None:
            kwargs["stdin"] = subprocess.PIPE
        # Its own process group: on a timeout every guest process goes (bench's probes are qemus of their own).
        with subprocess.Popen(self.command(args), env=self.env(env), start_new_session=True, **kwargs) as proc:
            try:
                out, err = proc.communicate(data, timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def share(self, path: PathLike) -> Path:
        """Make ``path`` (a folder, created if missing) one the guest may write into; returns it.

        As root: the folder and what is in it go to the board user, and the folders above it get o+x (see
        :meth:`reachable`). As a normal user: nothing to do, the guest runs as you.
        """
        path = Path(path).absolute()
        path.mkdir(parents=True, exist_ok=True)
        if self.user is None:
            return path
        entry = pwd.getpwnam(self.user)
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
                os.lchown(name, entry.pw_uid, entry.pw_gid)
        path.chmod(path.stat().st_mode | 0o700)
        self.reachable(path)
        return path

    def reachable(self, path: PathLike) -> Path:
        """Let the guest reach ``path`` (inputs a test wrote as root): every folder above it gets o+x (pass
        through, not list); the test makes the files themselves world-readable (0644 / 0755). Nothing to do
        when the guest runs as the caller. Prefer :meth:`workdir`: pytest may close its tmp root again."""
        path = Path(path).absolute()
        if self.user is None:
            return path
        entry = pwd.getpwnam(self.user)
        for parent in path.parents:
            st = parent.stat()
            if st.st_uid == entry.pw_uid or st.st_mode & 0o001 or (st.st_gid == entry.pw_gid and st.st_mode & 0o010):
                continue
            parent.chmod(st.st_mode | 0o001)
        return path

    def workdir(self, prefix: str = "test-") -> Path:
        """A new, empty folder in the boards' scratch area that the guest user owns (remove it when done)."""
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=board_dir() / "work"))
        path.chmod(0o755)
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        return path


def find_board(arch: str) -> Optional[Board]:
    """The built board for ``arch`` ("arm64" / "armhf"), or None when `make board` has not built it
    (or, for a root test process, when its unprivileged user is missing or setpriv is not installed)."""
    if arch not in ARCHES:
        raise ValueError(f"unknown board {arch!r}: one of {', '.join(ARCHES)}")
    root = board_dir() / arch
    python = root / "venv" / "bin" / "python"
    try:
        info = json.loads((root / "board.json").read_text())
    except (OSError, ValueError):
        return None
    if not (python.exists() and os.access(python, os.X_OK)) or not (board_dir() / "work").is_dir():
        return None
    user = None
    if os.geteuid() == 0:
        user = info.get("user") or BOARD_USER
        try:
            pwd.getpwnam(user)
        except KeyError:
            return None
        if not shutil.which("setpriv"):
            return None
    # board.json's path is the resolved one the builder used (the guest sees an ELF there, see board/build.py)
    built = Path(info.get("paths", {}).get("python", ""))
    return Board(arch=arch, root=root, python=built if built.is_file() else python, user=user, info=info)
