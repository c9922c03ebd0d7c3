#!/usr/bin/env python3
"""Build emulated Raspberry Pi OS userlands with ``edgenets[device]`` pip-installed inside them.

    python3 board/build.py [--dir DIR] [--arch arm64,armhf]        (``make board``)

Two boards under ``.board/`` (``BOARD_DIR`` or ``--dir``, relative to the checkout), each a Debian bookworm
userland run with qemu-user - no chroot, no binfmt_misc, nothing installed on the host:

- ``arm64``: Raspberry Pi OS 64-bit (Debian bookworm arm64, Python 3.11), emulated Cortex-A76 (Pi 5).
- ``armhf``: 32-bit Raspberry Pi OS (Debian bookworm armhf, Python 3.11), emulated Cortex-A7. No
  ai-edge-litert wheel exists for armv7, so the device extra resolves to tflite-runtime 2.14 there, with
  Debian's python3-numpy 1.24 seen through a ``--system-site-packages`` venv.

Steps, each cached behind a stamp: qemu-aarch64-static and qemu-arm-static unpacked from Debian's
qemu-user-static .deb (``apt-get download`` with a private apt configuration, never installed); per arch,
a private apt (``APT_CONFIG``, own lists and status) downloads python3 & co. with their dependencies and
``dpkg-deb --fsys-tarfile | tar -x`` unpacks them into a merged-/usr sysroot (no maintainer script runs);
the host pip builds this checkout's wheel and downloads the dependency wheels for the board's platform;
the GUEST Python makes the venv and the GUEST pip installs ``edgenets[device]`` from those local wheels -
the proof that ``pip install "edgenets[device]"`` works on Pi OS. The board is then checked from inside
(imports, the runtime ``--runtime auto`` picks, ``edgenets bench --help`` in a child process) and
described in ``<arch>/board.json`` (packages, versions, sizes, qemu, paths), which tests and docs read.

Layout of ``<dir>/``: ``qemu/``; ``bin/seccomp_exec.py``; ``wheels/`` (the edgenets wheel); ``apt/``;
``home/`` and ``work/`` (the board user's home and scratch folders, tests/boards.py); and per arch:
``sysroot/`` (with ``proc/cpuinfo``), ``bin/python3`` (the wrapper: qemu, sysroot, QEMU_CPU,
EDGENETS_EMULATED), ``venv/`` (bin/python* link to the wrapper: qemu's ``-0 "$0"`` makes the guest's
sys.executable that link, so the venv is found and child processes are emulated too), ``wheelhouse/``,
``board.json``.

Safety: the kernel is shared, so this never touches binfmt_misc and installs no host package. Under
``qemu -L`` a guest path missing from the sysroot falls through to the host, so guest programs never run
as root: when the builder runs as root it runs them as the system user ``edgenets-board`` (created on
first use), which may write only the venvs, its home and the scratch folder; the wrapper refuses root.

qemu-user 7.2 traps handled here: the host's x86 /proc/cpuinfo (LiteRT crashes; the sysroot gets an
ARM one whose Model line says "emulated"); its default CPU "max" (wrong int8 results; QEMU_CPU is
pinned); statx ignoring -L (32-bit glibc stats everything with statx: seccomp_exec.py makes the host's
statx answer ENOSYS, so qemu falls back to its translated fstatat); sys.executable being a shell
wrapper (pip then rejects every manylinux armv7l wheel: a link in the sysroot shows the guest the ELF).

Incremental: a rebuild with nothing changed takes a fraction of a second; a changed checkout reinstalls
only edgenets in each venv (``--force-reinstall --no-deps``); a changed dependency list rebuilds the
wheelhouse and the venv. Standard library and `packaging` (run with the project venv's Python: `make board`).
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import fcntl
import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

try:  # PEP 508 requirements, markers and specifiers: pip's own rules (the project venv has packaging)
    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name
except ImportError:  # pragma: no cover - run through `make board`, which uses the project venv
    sys.exit("board/build.py needs the packaging library: run it with the project venv (`make board`)")

REPO = Path(__file__).resolve().parents[1]
BOARD_USER = "edgenets-board"
SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
GLIBC_MINOR_FLOOR = 17  # manylinux_2_17 == manylinux2014, the oldest tag worth offering
LAYOUT_VERSION = 2  # bump to force every board to be rebuilt from scratch


@dataclass(frozen=True)
class Arch:
    name: str  # Debian architecture and board name
    qemu: str  # qemu-user binary name
    triplet: str  # Debian multiarch triplet
    machine: str  # what uname -m / platform.machine() says in the guest
    cpu: str  # QEMU_CPU: pinned, never qemu's default "max" (its SME emulation gave wrong int8 results)
    packages: tuple  # Debian packages to put in the sysroot (apt adds their dependencies)
    system_site_packages: bool
    cpuinfo_block: str  # one /proc/cpuinfo processor block, without the "processor" line
    cpuinfo_tail: str  # the lines after the blocks


ARCHES = {
    "arm64": Arch(
        "arm64", "qemu-aarch64-static", "aarch64-linux-gnu", "aarch64", "cortex-a76",
        ("base-files", "libgcc-s1", "libstdc++6", "python3", "python3.11", "python3-venv", "python-is-python3"),
        False,
        # A Raspberry Pi 5 (Cortex-A76, MIDR 0x414fd0b1) under a 64-bit kernel.
        "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop "
        "asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\n"
        "CPU revision\t: 1\n",
        "Model\t\t: Raspberry Pi 5 Model B (emulated: qemu-user cortex-a76)\n",
    ),
    "armhf": Arch(
        "armhf", "qemu-arm-static", "arm-linux-gnueabihf", "armv7l", "cortex-a7",
        # qemu-arm 7.2 knows no ARMv8 core (cortex-a53/a72 are aarch64-only there): Cortex-A7 (Pi 2) is
        # the armv7 + NEON + VFPv4 the armhf wheels target.
        ("base-files", "libgcc-s1", "libstdc++6", "python3", "python3.11", "python3-venv", "python-is-python3",
         "python3-numpy"),
        True,
        # A Cortex-A7 (MIDR 0x410fc075) under a 32-bit kernel. No "model name" / "Hardware" line: edgenets
        # names the CPU from the first of those, and only "Model" says that this is an emulator.
        "Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpv4 idiva idivt vfpd32 lpae evtstrm\n"
        "CPU implementer\t: 0x41\nCPU architecture: 7\nCPU variant\t: 0x0\nCPU part\t: 0xc07\nCPU revision\t: 5\n",
        "Model\t\t: Raspberry Pi 2 Model B (emulated: qemu-user cortex-a7)\n",
    ),
}

# What the host's environment must not pass to a guest Python (x86 paths, host venvs, host pip config).
DROP_ENV = ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONEXECUTABLE", "VIRTUAL_ENV",
            "PYTHONBREAKPOINT", "PYTHONSAFEPATH", "LD_LIBRARY_PATH", "LD_PRELOAD")


def host_environ_for_guest() -> dict:
    """This process's environment less what a guest Python must not see (tests/boards.py uses it too)."""
    return {k: v for k, v in os.environ.items() if k not in DROP_ENV and not k.startswith(("PIP_", "QEMU_"))}


class BuildError(Exception):
    """One line for the user; exit status 1."""


# ------------------------------------------------------------------ small helpers


def log(msg: str) -> None:
    print(f"board: {msg}", flush=True)


@contextlib.contextmanager
def step(name: str):
    t0 = time.monotonic()
    yield
    log(f"{name} ({time.monotonic() - t0:.1f} s)")


def run(cmd: list, *, env: Optional[dict] = None, cwd: Optional[Path] = None, what: str = "",
        capture: bool = True, timeout: Optional[float] = None, input: Optional[str] = None) -> str:
    """Run a command; its stdout, or BuildError with the tail of its output."""
    try:
        proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, text=True, timeout=timeout, input=input,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.STDOUT if capture else None)
    except FileNotFoundError as exc:
        raise BuildError(f"{what or cmd[0]}: {exc.strerror}: {exc.filename}") from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what or cmd[0]}: did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        out = (proc.stdout or "").strip().splitlines()
        tail = "\n".join("    " + line for line in out[-25:])
        raise BuildError(f"{what or ' '.join(map(str, cmd[:3]))} failed (exit {proc.returncode})"
                         + (f":\n{tail}" if tail else ""))
    return proc.stdout or ""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def read_stamp(path: Path) -> Optional[str]:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> bool:
    try:
        if path.read_text() == text:
            os.chmod(path, mode)
            return False
    except OSError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def rmtree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


# ------------------------------------------------------------------ PEP 508, just enough


def pip_arg(name: str, extras: Iterable[str], specifier: SpecifierSet) -> str:
    extras = sorted(extras)
    return f"{name}{'[' + ','.join(extras) + ']' if extras else ''}{specifier}"


def requirement_arg(req: Requirement) -> str:
    return pip_arg(canonicalize_name(req.name), req.extras, req.specifier)


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        return email.parser.HeaderParser().parsestr(zf.read(name).decode("utf-8"))


def wheel_requirements(meta, extras: Iterable[str], env: dict) -> list:
    """The Requires-Dist of a wheel that apply in ``env`` (the GUEST's marker environment, read in the guest:
    pip would evaluate markers with the host's) with ``extras`` requested."""
    wanted = [""] + sorted(extras)
    out = []
    for text in meta.get_all("Requires-Dist") or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in wanted):
            out.append(req)
    return out


def wheel_name(filename: str) -> str:
    return canonicalize_name(filename.split("-")[0])


# ------------------------------------------------------------------ the builder


class Builder:
    def __init__(self, board_dir: Path, arches: list):
        self.dir = board_dir
        self.arches = [ARCHES[a] for a in arches]
        self.root = os.geteuid() == 0
        self.user: Optional[pwd.struct_passwd] = None
        self.host_arch = ""
        self.qemu_version = ""
        self.host_python = ""  # runs seccomp_exec.py in front of qemu
        self.launcher = self.dir / "bin" / "seccomp_exec.py"
        self.compilers: dict = {}  # arch -> host Python with the guest's bytecode magic, or None
        self.pip_python = ""  # host Python with pip (tools_python)

    # ---------------------------------------------------------- preflight, user, apt

    def preflight(self) -> None:
        for tool in ("apt-get", "dpkg-deb", "dpkg", "tar", *(("setpriv", "chown") if self.root else ())):
            if not shutil.which(tool):
                raise BuildError(f"`{tool}` not found: the emulated boards need a Debian/Ubuntu host with apt-get and "
                                 "dpkg-deb (nothing is installed on the host; the .debs are only downloaded and "
                                 "unpacked)")
        self.host_arch = run(["dpkg", "--print-architecture"], what="dpkg --print-architecture").strip()
        os.umask(0o022)
        self.dir.mkdir(parents=True, exist_ok=True)
        for sub in ("home", "work"):
            (self.dir / sub).mkdir(exist_ok=True)
        if self.root:
            self.user = self.ensure_user()
            for sub in ("home", "work"):
                os.chown(self.dir / sub, self.user.pw_uid, self.user.pw_gid)
            self.check_reachable(self.dir)
        # qemu starts through seccomp_exec.py (see there: qemu 7.2's statx ignores -L) under a host python3
        # that the board user can run: the system one where there is one.
        (self.dir / "bin").mkdir(exist_ok=True)
        write_if_changed(self.launcher, (REPO / "board" / "seccomp_exec.py").read_text())
        candidates = ["/usr/bin/python3", shutil.which("python3") or "", sys.executable]
        for candidate in filter(None, candidates):
            probe = subprocess.run(self.as_user([candidate, "-I", "-S", self.launcher, "/bin/true"]),
                                   capture_output=True, text=True)
            if probe.returncode == 0:
                self.host_python = candidate
                break
        else:
            raise BuildError(f"no host python3 that {'the user ' + BOARD_USER if self.user else 'this user'} can run "
                             f"could install the statx filter ({probe.stderr.strip()[-200:]})")

    def ensure_user(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(BOARD_USER)
        except KeyError:
            pass
        if not shutil.which("useradd"):
            raise BuildError("running as root needs `useradd` to create the unprivileged user that runs the "
                             "guest programs (or run `make board` as a normal user)")
        run(["useradd", "--system", "--user-group", "--shell", "/bin/bash", "--home-dir", self.dir / "home",
             "--no-create-home", "--comment", "edgenets emulated boards (board/build.py)", BOARD_USER],
            what=f"useradd {BOARD_USER}")
        log(f"created the system user {BOARD_USER} (guest programs never run as root)")
        return pwd.getpwnam(BOARD_USER)

    def check_reachable(self, path: Path) -> None:
        """Every directory above ``path`` must be searchable by the board user."""
        for parent in [path, *path.parents]:
            st = parent.stat()
            if not st.st_mode & 0o001 and not (st.st_uid == self.user.pw_uid) and not (
                    st.st_gid == self.user.pw_gid and st.st_mode & 0o010):
                raise BuildError(f"{parent} is not searchable by the unprivileged user {BOARD_USER} that runs the "
                                 f"guest programs: put the boards elsewhere, e.g. BOARD_DIR=/var/tmp/edgenets-board")

    def host_sources(self) -> list:
        """(uri, keyring) of Debian bookworm main, from the host's apt sources (their mirror and proxy
        settings), else deb.debian.org. Only the bookworm suite: its point releases carry the security
        fixes, and one index per architecture is one thing less to be caught mid-sync."""
        entries = []

        def add(types, uris, suites, comps, signed):
            if "deb" in types and "main" in comps and SUITE in suites:
                entries.extend((uri.rstrip("/"), signed) for uri in uris)

        files = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
        for f in files:
            try:
                text = f.read_text(errors="replace")
            except OSError:
                continue
            if f.suffix == ".sources":
                for para in re.split(r"\n\s*\n", text):
                    fields = {}
                    for line in para.splitlines():
                        if line.startswith("#") or ":" not in line or line[:1].isspace():
                            continue
                        k, _, v = line.partition(":")
                        fields[k.strip().lower()] = v.strip()
                    if fields.get("enabled", "yes").lower() == "no":
                        continue
                    add(fields.get("types", "").split(), fields.get("uris", "").split(),
                        fields.get("suites", "").split(), fields.get("components", "").split(),
                        fields.get("signed-by", ""))
            elif f.suffix == ".list" or f.name == "sources.list":
                for line in text.splitlines():
                    line = line.split("#", 1)[0].strip()
                    if not line:
                        continue
                    opts = ""
                    m = re.match(r"^(\S+)\s+\[([^\]]*)\]\s+(.*)$", line)
                    if m:
                        kind, opts, rest = m.groups()
                    else:
                        kind, _, rest = line.partition(" ")
                    parts = rest.split()
                    if len(parts) < 3:
                        continue
                    signed = re.search(r"signed-by=(\S+)", opts)
                    add([kind], [parts[0]], [parts[1]], parts[2:], signed.group(1) if signed else "")
        uri, signed = entries[0] if entries else (DEBIAN_MIRROR, "")
        if not signed or not Path(signed).is_file():
            signed = DEBIAN_KEYRING
        if not Path(signed).is_file():
            raise BuildError(f"{signed} is missing: install debian-archive-keyring (the boards are Debian "
                             f"{SUITE}, verified with Debian's archive keys)")
        return [(uri, SUITE, signed)]

    def apt(self, arch: str) -> tuple:
        """A private apt for ``arch`` under <dir>/apt/<arch>: (env, args) for apt-get."""
        base = self.dir / "apt" / arch
        for sub in ("state/lists/partial", "cache/archives/partial", "etc/sources.list.d",
                    "etc/preferences.d", "log"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        status = base / "state" / "status"
        if not status.exists():
            status.write_text("")
        sources = "".join(f"deb [arch={arch} signed-by={key}] {uri} {suite} main\n"
                          for uri, suite, key in self.host_sources())
        write_if_changed(base / "etc" / "sources.list", sources)
        conf = "\n".join([
            f'APT::Architecture "{arch}";',
            f'APT::Architectures {{ "{arch}"; }};',
            'APT::Install-Recommends "false";',
            'APT::Install-Suggests "false";',
            f'Dir::State "{base}/state";',
            f'Dir::State::status "{status}";',
            f'Dir::Cache "{base}/cache";',
            f'Dir::Etc::SourceList "{base}/etc/sources.list";',
            f'Dir::Etc::SourceParts "{base}/etc/sources.list.d";',
            f'Dir::Etc::Preferences "{base}/etc/preferences";',
            f'Dir::Etc::PreferencesParts "{base}/etc/preferences.d";',
            f'Dir::Log "{base}/log";',
            'Acquire::Languages "none";',
            # Downloads into our own folders, which apt's _apt sandbox user may not write.
            *(['APT::Sandbox::User "root";'] if self.root else []),
            "",
        ])
        write_if_changed(base / "apt.conf", conf)
        env = {**os.environ, "APT_CONFIG": str(base / "apt.conf"), "DEBIAN_FRONTEND": "noninteractive"}
        args = ["-q", "-o", "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
                "-o", "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false",
                "-o", "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false",
                "-o", "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"]
        return env, args, base

    def apt_update(self, arch: str) -> tuple:
        """Fresh private lists before each download (only when a sysroot or qemu is (re)built): a mirror
        drops a point release's .debs once the next one is out."""
        env, args, base = self.apt(arch)
        for attempt in range(3):  # a mirror caught mid-sync fails with "File has unexpected size"
            try:
                run(["apt-get", *args, "update"], env=env, what=f"apt-get update ({arch}, private lists)")
                break
            except BuildError:
                if attempt == 2:
                    raise
                time.sleep(5 * (attempt + 1))
        return env, args, base

    # ---------------------------------------------------------- qemu

    def qemu(self) -> None:
        qdir = self.dir / "qemu"
        wanted = sorted({a.qemu for a in ARCHES.values()})
        stamp = qdir / ".stamp"
        if read_stamp(stamp) and all((qdir / q).is_file() for q in wanted):
            self.qemu_version = read_stamp(stamp)
            return
        with step("qemu: downloaded qemu-user-static, unpacked " + " and ".join(wanted)):
            env, args, base = self.apt_update(self.host_arch)
            dl = base / "download"
            rmtree(dl)
            dl.mkdir(parents=True)
            run(["apt-get", *args, "download", "qemu-user-static"], env=env, cwd=dl,
                what="apt-get download qemu-user-static")
            deb = next(dl.glob("qemu-user-static_*.deb"))
            qdir.mkdir(exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.dir) as tmp:
                self.untar_deb(deb, Path(tmp), [f"./usr/bin/{q}" for q in wanted])
                for q in wanted:
                    os.replace(Path(tmp) / "usr" / "bin" / q, qdir / q)
                    os.chmod(qdir / q, 0o755)
            rmtree(dl)
            out = run([qdir / "qemu-aarch64-static", "--version"], what="qemu-aarch64-static --version")
            m = re.search(r"version\s+(\S+)", out)
            self.qemu_version = m.group(1) if m else "unknown"
            stamp.write_text(self.qemu_version)

    @staticmethod
    def untar_deb(deb: Path, dest: Path, members: Optional[list] = None) -> None:
        """dpkg-deb --fsys-tarfile DEB | tar -x (into a merged-/usr tree: directory symlinks are kept)."""
        dpkg = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        tar = subprocess.run(["tar", "-x", "--keep-directory-symlink", "-C", str(dest), *(members or [])],
                             stdin=dpkg.stdout, stderr=subprocess.PIPE, text=True)
        dpkg.stdout.close()
        if dpkg.wait() != 0 or tar.returncode != 0:
            raise BuildError(f"could not unpack {deb.name}: {tar.stderr.strip()[-400:]}")

    # ---------------------------------------------------------- sysroot

    def sysroot(self, a: Arch) -> bool:
        """Download and unpack the Debian packages; True when (re)built."""
        home = self.dir / a.name
        sysroot = home / "sysroot"
        key = sha256_json([LAYOUT_VERSION, a.packages, self.host_sources()])
        stamp = home / "sysroot.stamp"
        if read_stamp(stamp) == key and (sysroot / "usr" / "bin" / "python3.11").exists():
            return False
        with step(f"{a.name}: sysroot (Debian {SUITE} {a.name}: {' '.join(a.packages)})"):
            stamp.unlink(missing_ok=True)
            env, args, base = self.apt_update(a.name)
            archives = base / "cache" / "archives"
            for old in archives.glob("*.deb"):
                old.unlink()
            run(["apt-get", *args, "install", "--download-only", "-y", *a.packages], env=env,
                what=f"apt-get install --download-only ({a.name})")
            debs = sorted(archives.glob("*.deb"))
            if not debs:
                raise BuildError(f"apt downloaded no packages for {a.name}")
            rmtree(sysroot)
            sysroot.mkdir(parents=True)
            for d in ("usr/bin", "usr/sbin", f"usr/lib/{a.triplet}", "etc", "proc"):
                (sysroot / d).mkdir(parents=True, exist_ok=True)
            for link in ("bin", "sbin", "lib"):  # merged /usr, as Debian bookworm installs it
                os.symlink(f"usr/{link}", sysroot / link)
            for deb in debs:
                self.untar_deb(deb, sysroot)
            self.apply_alternatives(debs, sysroot)
            self.relative_symlinks(sysroot)
            self.isolate(a, sysroot)
            self.write_cpuinfo(a)
            (home / "packages.txt").write_text("".join(d.name + "\n" for d in debs))
            log(f"{a.name}: {len(debs)} packages, {sum(d.stat().st_size for d in debs) / 1e6:.1f} MB of .debs")
            for old in debs:
                old.unlink()
        self.precompile(a, sysroot)
        stamp.write_text(key)
        return True

    @staticmethod
    def apply_alternatives(debs: list, sysroot: Path) -> None:
        """What the maintainer scripts' `update-alternatives --install LINK NAME PATH PRIO` would set up
        (libblas.so.3 / liblapack.so.3 for numpy): the highest priority wins. No script is run."""
        best: dict = {}
        for deb in debs:
            proc = subprocess.run(["dpkg-deb", "--info", str(deb), "postinst"], capture_output=True, text=True)
            if proc.returncode != 0:
                continue
            script = re.sub(r"\\\n", " ", proc.stdout)  # line continuations
            for m in re.finditer(r"update-alternatives\s+--install\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)", script):
                link, name, target, prio = m.groups()
                if "$" in link + name + target or not link.startswith("/") or not target.startswith("/"):
                    continue
                if name not in best or int(prio) > best[name][2]:
                    best[name] = (link, target, int(prio))
        for link, target, _prio in best.values():
            dest = sysroot / link.lstrip("/")
            if (sysroot / target.lstrip("/")).exists() and not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(os.path.relpath(sysroot / target.lstrip("/"), dest.parent), dest)

    @staticmethod
    def relative_symlinks(sysroot: Path) -> None:
        """An absolute symlink in the sysroot would be followed on the host: point it inside instead."""
        for root, dirs, files in os.walk(sysroot):
            for name in dirs + files:
                p = Path(root) / name
                if p.is_symlink():
                    target = os.readlink(p)
                    if target.startswith("/"):
                        p.unlink()
                        os.symlink(os.path.relpath(sysroot / target.lstrip("/"), p.parent), p)

    def isolate(self, a: Arch, sysroot: Path) -> None:
        """Files whose absence would let the guest read the host's: the loader cache and preload list (x86
        entries), and the site-packages folders a Debian Python adds (the host's hold x86 packages)."""
        (sysroot / "etc" / "ld.so.cache").write_bytes(b"")
        (sysroot / "etc" / "ld.so.preload").write_bytes(b"")
        for d in ("usr/local/lib/python3.11/dist-packages", "usr/local/lib/python3/dist-packages",
                  "usr/lib/python3/dist-packages", "usr/lib/python3.11/dist-packages", "usr/local/bin"):
            (sysroot / d).mkdir(parents=True, exist_ok=True)

    def host_compiler(self, a: Arch) -> Optional[str]:
        """A host Python that writes the guest's bytecode (same magic number: both 3.11), or None. Compiling
        natively takes a fifth of the time the emulated compile takes (7 s vs 33 s for the arm64 venv)."""
        if a.name not in self.compilers:
            magic = "import importlib.util as u; print(u.MAGIC_NUMBER.hex())"
            guest = self.guest_system(a, ["-c", magic]).strip()
            self.compilers[a.name] = None
            for candidate in dict.fromkeys([self.host_python, sys.executable]):
                proc = subprocess.run(self.as_user([candidate, "-I", "-c", magic]), capture_output=True, text=True)
                if proc.returncode == 0 and proc.stdout.strip() == guest:
                    self.compilers[a.name] = candidate
                    break
        return self.compilers[a.name]

    def precompile(self, a: Arch, sysroot: Path) -> None:
        """Byte-compile the guest's standard library and dist-packages, as Debian's postinst scripts (not run
        here) would: otherwise every emulated start compiles them again, and the board user cannot write
        the __pycache__ folders there."""
        with step(f"{a.name}: byte-compiled the guest's standard library"):
            dirs = [sysroot / "usr/lib/python3.11", sysroot / "usr/lib/python3/dist-packages"]
            rx = r"/(test|tests|idlelib|lib2to3|tkinter|turtledemo)/"  # as Debian's py3compile skips them
            compiler = self.host_compiler(a)
            if compiler:  # -s/-p: the paths the guest sees, for tracebacks
                for d in dirs:
                    run([compiler, "-I", "-m", "compileall", "-q", "-j", "0", "-x", rx, "-s", sysroot, "-p", "/", d],
                        what="compileall (host Python)")
                return
            # Another host Python version: the guest compiles (minutes); the board user needs write access.
            owner = self.user
            try:
                if owner is not None:
                    for d in dirs:
                        run(["chown", "-R", f"{owner.pw_uid}:{owner.pw_gid}", d], what=f"chown {d}")
                for d in dirs:
                    self.guest_system(a, ["-m", "compileall", "-q", "-x", rx, f"/{d.relative_to(sysroot)}"],
                                      timeout=3600)
            finally:
                if owner is not None:
                    for d in dirs:
                        run(["chown", "-R", "0:0", d], what=f"chown {d}")

    def compile_venv(self, a: Arch, paths: list) -> None:
        """Byte-compile what the guest pip installed (it ran with PIP_COMPILE=no), as the board user, who
        owns the venv (a later pip uninstall removes these __pycache__ folders)."""
        compiler = self.host_compiler(a)
        if compiler:
            run(self.as_user([compiler, "-I", "-m", "compileall", "-q", "-j", "0", *paths]),
                what=f"{a.name}: compileall (host Python) of the venv")
        else:
            self.guest_venv(a, ["-m", "compileall", "-q", *paths], timeout=3600)

    def write_cpuinfo(self, a: Arch) -> None:
        """The guest's /proc/cpuinfo: qemu 7.2 would show it the host's x86 one (LiteRT then crashes in
        Interpreter()). It describes the emulated core and says "emulated" in the Model line."""
        count = os.cpu_count() or 1
        try:
            text = Path("/sys/devices/system/cpu/possible").read_text().strip()
            count = max(int(part.split("-")[-1]) for part in text.split(",")) + 1
        except (OSError, ValueError):
            pass
        blocks = "".join(f"processor\t: {i}\n{a.cpuinfo_block}\n" for i in range(count))
        write_if_changed(self.dir / a.name / "sysroot" / "proc" / "cpuinfo", blocks + a.cpuinfo_tail)

    # ---------------------------------------------------------- running guest programs

    def emulated(self, a: Arch) -> str:
        return f"qemu-user {self.qemu_version} {a.cpu}, Debian {SUITE} {a.name}"

    def guest_env(self, a: Arch) -> dict:
        env = host_environ_for_guest()
        env.update({"QEMU_CPU": a.cpu, "EDGENETS_EMULATED": self.emulated(a), "PYTHONNOUSERSITE": "1",
                    "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1", "PIP_NO_CACHE_DIR": "1",
                    "LC_ALL": "C.UTF-8"})
        if self.user is not None:
            env.update({"HOME": str(self.dir / "home"), "USER": BOARD_USER, "LOGNAME": BOARD_USER})
        return env

    def as_user(self, cmd: list) -> list:
        if self.user is None:
            return cmd
        return ["setpriv", f"--reuid={self.user.pw_uid}", f"--regid={self.user.pw_gid}", "--clear-groups",
                "--", *cmd]

    def qemu_command(self, a: Arch) -> list:
        """qemu-ARCH -L SYSROOT, behind the statx filter; the caller adds -0 ARGV0 PROGRAM ARGS."""
        return [self.host_python, "-I", "-S", self.launcher, self.dir / "qemu" / a.qemu,
                "-L", self.dir / a.name / "sysroot"]

    def guest_system(self, a: Arch, args: list, *, timeout: float = 900) -> str:
        """Run the sysroot's /usr/bin/python3.11 (not a venv) as the unprivileged user."""
        sysroot = self.dir / a.name / "sysroot"
        cmd = [*self.qemu_command(a), "-0", "/usr/bin/python3.11", sysroot / "usr" / "bin" / "python3.11", *args]
        return run(self.as_user(cmd), env=self.guest_env(a), cwd=self.dir / "work", timeout=timeout,
                   what=f"{a.name}: guest python3.11 {' '.join(map(str, args))[:80]}")

    def guest_venv(self, a: Arch, args: list, *, timeout: float = 1800, what: str = "",
                   env: Optional[dict] = None) -> str:
        python = self.dir / a.name / "venv" / "bin" / "python"
        return run(self.as_user([python, *args]), env={**self.guest_env(a), **(env or {})}, cwd=self.dir / "work",
                   timeout=timeout,
                   what=what or f"{a.name}: venv/bin/python {' '.join(map(str, args))[:80]}")

    def write_wrapper(self, a: Arch) -> None:
        home = self.dir / a.name
        sysroot = home / "sysroot"
        (home / "bin").mkdir(exist_ok=True)
        qemu = " ".join(f"'{c}'" for c in self.qemu_command(a))
        text = f"""#!/bin/sh
# {a.name} board: Debian {SUITE} {a.name} Python 3.11 under qemu-user, CPU pinned to {a.cpu}.
# Generated by board/build.py. The venv's bin/python* link here: qemu's -0 "$0" makes the guest's
# sys.executable that link, so the venv is found and child processes (sys.executable) are emulated too.
# Never as root: a guest path missing from the sysroot is the host's, and so would be its writes.
if [ "$(id -u)" = 0 ]; then
  echo "{home.name} board: refusing to run as root; run it as an unprivileged user, e.g." \
    "setpriv --reuid={BOARD_USER} --regid={BOARD_USER} --clear-groups $0 ..." >&2
  exit 126
fi
unset PYTHONHOME
export PYTHONNOUSERSITE=1
export QEMU_CPU={a.cpu}
export EDGENETS_EMULATED='{self.emulated(a)}'
exec {qemu} -0 "$0" '{sysroot / "usr/bin/python3.11"}' "$@"
"""
        write_if_changed(home / "bin" / "python3", text, 0o755)

    # ---------------------------------------------------------- wheels

    def tools_python(self) -> list:
        """A host Python with pip: python3 itself, else a small venv of it (Debian's python3 has no pip)."""
        if self.pip_python:
            return [self.pip_python]
        self.pip_python = sys.executable
        if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
            venv = self.dir / "tools-venv"
            self.pip_python = str(venv / "bin" / "python")
            if not Path(self.pip_python).exists():
                with step("host: made a pip venv for downloading wheels (this python3 has no pip)"):
                    run([sys.executable, "-m", "venv", venv], what="python3 -m venv (needs python3-venv)")
        return [self.pip_python]

    def source_files(self) -> list:
        out = []
        for name in ("pyproject.toml", "README.md", "setup.cfg", "setup.py", "MANIFEST.in"):
            if (REPO / name).is_file():
                out.append(name)
        for p in sorted((REPO / "edgenets").rglob("*")):
            rel = p.relative_to(REPO)
            if p.is_file() and "__pycache__" not in rel.parts and p.suffix not in (".pyc", ".pyo"):
                out.append(str(rel))
        for p in sorted(REPO.glob("LICEN[CS]E*")) + sorted(REPO.glob("COPYING*")) + sorted(REPO.glob("NOTICE*")):
            out.append(p.name)
        return out

    def wheel(self) -> Path:
        """This checkout's edgenets wheel, rebuilt only when its source files changed."""
        wdir = self.dir / "wheels"
        wdir.mkdir(exist_ok=True)
        files = self.source_files()
        h = hashlib.sha256()
        for rel in files:
            h.update(rel.encode() + b"\0" + (REPO / rel).read_bytes() + b"\0")
        key = h.hexdigest()
        stamp = wdir / "source.sha256"
        wheels = sorted(wdir.glob("edgenets-*.whl"))
        if read_stamp(stamp) == key and len(wheels) == 1:
            return wheels[0]
        with step("host: built this checkout's edgenets wheel"):
            for old in wheels:
                old.unlink()
            with tempfile.TemporaryDirectory(dir=self.dir) as tmp:
                src = Path(tmp) / "src"
                for rel in files:
                    (src / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(REPO / rel, src / rel)
                run([*self.tools_python(), "-m", "pip", "wheel", "-q", "--no-deps", "-w", wdir, src],
                    what="pip wheel (this checkout)")
            wheels = sorted(wdir.glob("edgenets-*.whl"))
            if len(wheels) != 1:
                raise BuildError(f"pip wheel left {len(wheels)} edgenets wheels in {wdir}")
            stamp.write_text(key)
        return wheels[0]

    def guest_facts(self, a: Arch, sysroot_key: str) -> dict:
        """The guest's marker environment, glibc and system distributions (cached per sysroot)."""
        path = self.dir / a.name / "guest.json"
        try:
            facts = json.loads(path.read_text())
            if facts.get("sysroot") == sysroot_key:
                return facts
        except (OSError, ValueError):
            pass
        code = (
            "import json, os, platform, sys, importlib.metadata as md\n"
            "env = dict(os_name=os.name, sys_platform=sys.platform, platform_machine=platform.machine(),\n"
            "  platform_release=platform.release(), platform_system=platform.system(),\n"
            "  platform_version=platform.version(), python_version='.'.join(platform.python_version_tuple()[:2]),\n"
            "  python_full_version=platform.python_version(), platform_python_implementation="
            "platform.python_implementation(),\n"
            "  implementation_name=sys.implementation.name, implementation_version=platform.python_version())\n"
            "dists = sorted({(d.metadata['Name'], d.version) for d in md.distributions() if d.metadata['Name']})\n"
            "print(json.dumps(dict(env=env, glibc=os.confstr('CS_GNU_LIBC_VERSION'), python=sys.version,\n"
            "  system=[list(d) for d in dists])))\n"
        )
        facts = json.loads(self.guest_system(a, ["-c", code]).strip().splitlines()[-1])
        facts["sysroot"] = sysroot_key
        path.write_text(json.dumps(facts, indent=1))
        return facts

    @staticmethod
    def platform_tags(a: Arch, glibc: str) -> list:
        m = re.search(r"(\d+)\.(\d+)", glibc)
        major, minor = (int(m.group(1)), int(m.group(2))) if m else (2, 36)
        tags = [f"manylinux_{major}_{n}_{a.machine}" for n in range(minor, GLIBC_MINOR_FLOOR - 1, -1)]
        tags.append(f"manylinux2014_{a.machine}")
        tags.append(f"linux_{a.machine}")
        return tags

    def wheelhouse(self, a: Arch, wheel: Path, facts: dict) -> tuple:
        """Download the board's dependency wheels with the host pip, resolving for the guest: markers are
        evaluated with the guest's environment (pip would use the host's), and what the guest's system
        site-packages already hold (Debian's numpy on armhf) is not downloaded. Returns (key, top reqs)."""
        env = facts["env"]
        meta = wheel_metadata(wheel)
        top = wheel_requirements(meta, ["device"], env)
        system = {canonicalize_name(n): v for n, v in facts["system"]} if a.system_site_packages else {}
        tags = self.platform_tags(a, facts["glibc"])
        key = sha256_json([LAYOUT_VERSION, sorted(requirement_arg(r) for r in top), tags, sorted(system.items())])
        house = self.dir / a.name / "wheelhouse"
        stamp = self.dir / a.name / "wheelhouse.stamp"
        if read_stamp(stamp) == key and house.is_dir():
            return key, top
        with step(f"{a.name}: wheelhouse ({', '.join(requirement_arg(r) for r in top)} and their dependencies)"):
            stamp.unlink(missing_ok=True)
            rmtree(house)
            house.mkdir(parents=True)
            pip = [*self.tools_python(), "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                   "--python-version", env["python_version"], "--implementation", "cp",
                   "--abi", f"cp{env['python_version'].replace('.', '')}", "-d", house]
            for tag in tags:
                pip += ["--platform", tag]
            wanted: dict = {}  # name -> (extras, [specifiers])
            done: dict = {}  # name -> extras already expanded
            queue = list(top)
            while queue:
                batch: dict = {}
                for req in queue:
                    name = canonicalize_name(req.name)
                    if req.url:
                        raise BuildError(f"{a.name}: direct URL requirement {name} @ {req.url} is not supported")
                    if name in system:
                        if not req.specifier.contains(system[name], prereleases=True):
                            raise BuildError(f"{a.name}: the guest's system {name} {system[name]} does not "
                                             f"satisfy {requirement_arg(req)}")
                        continue
                    extras, specs = wanted.setdefault(name, (set(), []))
                    extras.update(req.extras)
                    if req.specifier:
                        specs.append(req.specifier)
                    if name not in done or not req.extras <= done[name]:
                        batch[name] = wanted[name]
                queue = []
                fetch = [n for n in batch if n not in done]
                if fetch:
                    args = [pip_arg(n, (), SpecifierSet(",".join(map(str, batch[n][1])))) for n in fetch]
                    run([*pip, *args], what=f"{a.name}: pip download {' '.join(args)}")
                have = {wheel_name(w.name): w for w in house.glob("*.whl")}
                for name, (extras, _specs) in batch.items():
                    if name not in have:
                        raise BuildError(f"{a.name}: pip downloaded no wheel for {name}")
                    queue += wheel_requirements(wheel_metadata(have[name]), extras, env)
                    done[name] = set(extras) | done.get(name, set())
            stamp.write_text(key)
        return key, top

    # ---------------------------------------------------------- venv

    def venv(self, a: Arch, wheel: Path, house_key: str, sysroot_key: str) -> bool:
        """Create the venv with the guest Python and pip-install edgenets[device] with the guest pip."""
        home = self.dir / a.name
        venv = home / "venv"
        key = sha256_json([LAYOUT_VERSION, sysroot_key, house_key, a.cpu, str(self.dir)])  # scripts hold absolute paths
        stamp = home / "venv.stamp"
        installed = home / "edgenets.sha256"
        wheel_sha = sha256_file(wheel)
        links = [self.dir / "wheels", home / "wheelhouse"]
        find_links = [arg for d in links for arg in ("--find-links", d)]
        site = venv / "lib" / "python3.11" / "site-packages"
        # The guest pip installs without byte-compiling; the host compiles the same bytecode 5x faster.
        no_compile = {"PIP_COMPILE": "no"}
        if read_stamp(stamp) == key and (venv / "bin" / "python").exists():
            self.shadow_executables(a)
            if read_stamp(installed) == wheel_sha:
                return False
            with step(f"{a.name}: reinstalled edgenets ({wheel.name}, changed) with the guest pip"):
                installed.unlink(missing_ok=True)
                self.guest_venv(a, ["-m", "pip", "install", "-q", "--no-index", "--force-reinstall", "--no-deps",
                                    wheel], env=no_compile, what=f"{a.name}: guest pip install --force-reinstall edgenets")
                self.compile_venv(a, [site / "edgenets"])
                installed.write_text(wheel_sha)
            return True
        stamp.unlink(missing_ok=True)
        installed.unlink(missing_ok=True)
        with step(f"{a.name}: venv{' (--system-site-packages)' if a.system_site_packages else ''} made by the "
                  f"guest Python, pip and setuptools from Debian's wheels"):
            rmtree(venv)
            rmtree(self.shadow(a))
            venv.mkdir()
            if self.user is not None:
                os.chown(venv, self.user.pw_uid, self.user.pw_gid)
            self.guest_system(a, ["-m", "venv", "--without-pip",
                                  *(["--system-site-packages"] if a.system_site_packages else []), venv])
            # bin/python3.11 -> /usr/bin/python3.11 would be the HOST's Python when the kernel follows it.
            for name in ("python", "python3", "python3.11"):
                p = venv / "bin" / name
                if p.is_symlink() or p.exists():
                    p.unlink()
                os.symlink(os.path.relpath(home / "bin" / "python3", venv / "bin"), p)
            self.shadow_executables(a)
            self.bootstrap_pip(a, no_compile)
            self.compile_venv(a, [site])  # the pip that runs next
        with step(f"{a.name}: pip install \"edgenets[device]\" with the guest pip (no index: local wheels)"):
            self.guest_venv(a, ["-m", "pip", "install", "-q", "--no-index", *find_links, "edgenets[device]"],
                            env=no_compile, what=f"{a.name}: guest pip install edgenets[device]")
        with step(f"{a.name}: byte-compiled the venv"):
            self.compile_venv(a, [site])
        installed.write_text(wheel_sha)
        stamp.write_text(key)
        return True

    def shadow(self, a: Arch) -> Path:
        """Where the guest looks first for the venv's files: SYSROOT + the venv's host path."""
        venv = self.dir / a.name / "venv"
        return self.dir / a.name / "sysroot" / venv.relative_to(venv.anchor)

    def shadow_executables(self, a: Arch) -> None:
        """Show the guest an ELF at sys.executable, as on a Pi: venv/bin/python* are shell wrappers on the
        host (the kernel runs those for child processes), but pip's vendored packaging reads the ELF header of
        sys.executable to confirm the armhf hard-float ABI before it accepts any manylinux_*_armv7l wheel
        (tflite-runtime's only one), and platform.libc_ver() reads it too. qemu looks a guest path up in
        the sysroot first, so a link at SYSROOT/<venv>/bin/python* -> usr/bin/python3.11 is what the guest
        opens, while exec (not translated by qemu) still starts the wrapper. Made after the venv exists: the
        guest's `-m venv` would otherwise create the venv in this shadow."""
        bindir = self.shadow(a) / "bin"
        bindir.mkdir(parents=True, exist_ok=True)
        target = os.path.relpath(self.dir / a.name / "sysroot" / "usr" / "bin" / "python3.11", bindir)
        for name in ("python", "python3", "python3.11"):
            link = bindir / name
            if not (link.is_symlink() and os.readlink(link) == target):
                if link.is_symlink() or link.exists():
                    link.unlink()
                os.symlink(target, link)

    def bootstrap_pip(self, a: Arch, env: dict) -> None:
        """What `python3 -m venv` (ensurepip) does on the Pi, faster: the guest's pip, run from Debian's pip
        wheel, installs setuptools and pip from /usr/share/python-wheels into the venv. ensurepip imports
        pip from the zipped wheel, so the emulated Python compiles all of pip in memory (about 20 s); here
        the wheel is unpacked and byte-compiled by the host first. Same wheels, same command, same venv."""
        home = self.dir / a.name
        wheels = sorted((home / "sysroot" / "usr" / "share" / "python-wheels").glob("pip-*.whl"))
        compiler = self.host_compiler(a)
        if not wheels or not compiler:
            self.guest_venv(a, ["-m", "ensurepip", "--upgrade", "--default-pip"],
                            what=f"{a.name}: guest python -m ensurepip")
            return
        boot = home / "pip-bootstrap"
        if read_stamp(home / "pip-bootstrap.stamp") != wheels[-1].name:
            rmtree(boot)
            with zipfile.ZipFile(wheels[-1]) as zf:
                zf.extractall(boot)
            for meta in boot.glob("*.dist-info"):  # else pip counts itself as installed (ensurepip: a zip)
                rmtree(meta)
            run([compiler, "-I", "-m", "compileall", "-q", "-j", "0", boot], what="compileall (pip bootstrap)")
            (home / "pip-bootstrap.stamp").write_text(wheels[-1].name)
        self.guest_venv(a, ["-W", "ignore::DeprecationWarning", boot / "pip", "install", "--no-cache-dir",
                            "--no-index", "--find-links", "/usr/share/python-wheels", "--upgrade", "setuptools", "pip"],
                        env=env, what=f"{a.name}: guest pip (Debian's wheel) install pip setuptools")

    def describe(self, a: Arch, wheel: Path, top: list) -> None:
        """Verify the board from inside (imports, runtime, a child process) and write board.json."""
        home = self.dir / a.name
        venv = home / "venv"
        code = (
            "import json, os, platform, subprocess, sys, importlib.metadata as md\n"
            "import edgenets, numpy\n"
            "from edgenets.bench.runtime import resolve_runtime\n"
            "rt = resolve_runtime('auto')\n"
            "child = subprocess.run([sys.executable, '-m', 'edgenets', 'bench', '--help'], capture_output=True,\n"
            "  text=True)\n"
            "dists = [dict(name=d.metadata['Name'], version=d.version, location=str(d.locate_file('')))\n"
            "  for d in md.distributions()]\n"
            "print(json.dumps(dict(python=platform.python_version(), machine=platform.machine(),\n"
            "  executable=sys.executable, prefix=sys.prefix, base_prefix=sys.base_prefix,\n"
            "  edgenets=edgenets.__version__, numpy=numpy.__version__, numpy_path=numpy.__file__,\n"
            "  runtime=rt.describe(), emulated=os.environ.get('EDGENETS_EMULATED'),\n"
            "  child_exit=child.returncode, child_out=child.stdout[:200], child_err=child.stderr[-400:],\n"
            "  dists=dists)))\n"
        )
        with step(f"{a.name}: verified inside the board (imports, runtime, `edgenets bench --help` in a child)"):
            got = json.loads(self.guest_venv(a, ["-c", code], timeout=600).strip().splitlines()[-1])
        problems = []
        if got["machine"] != a.machine:
            problems.append(f"platform.machine() is {got['machine']!r}")
        if Path(got["prefix"]) != venv:
            problems.append(f"sys.prefix is {got['prefix']!r}, not the venv")
        if not got["executable"].startswith(str(venv)):
            problems.append(f"sys.executable is {got['executable']!r}, not the venv's python")
        if got["child_exit"] != 0 or "Usage" not in got["child_out"]:
            problems.append(f"`python -m edgenets bench --help` in a child failed: {got['child_err'].strip()[-200:]}")
        if problems:
            raise BuildError(f"{a.name}: the board does not work: " + "; ".join(problems))
        site = venv / "lib" / "python3.11" / "site-packages"
        packages, system = [], []
        for d in sorted(got["dists"], key=lambda d: canonicalize_name(d["name"] or "")):
            loc = Path(d["location"])
            if loc == site:
                packages.append({"name": d["name"], "version": d["version"],
                                 "bytes": self.dist_bytes(site, d["name"], d["version"])})
            elif d["name"]:  # the system site-packages a --system-site-packages venv sees (Debian's numpy)
                system.append({"name": d["name"], "version": d["version"], "location": d["location"]})
        machine_line = next((line for line in (home / "sysroot/proc/cpuinfo").read_text().splitlines()
                             if line.startswith("Model")), "")
        info = {
            "arch": a.name,
            "machine": got["machine"],
            "os": f"Debian {SUITE} {a.name} (as Raspberry Pi OS {SUITE} "
                  f"{'64' if a.name == 'arm64' else '32'}-bit)",
            "python": got["python"],
            "qemu": {"version": self.qemu_version, "binary": str(self.dir / "qemu" / a.qemu), "cpu": a.cpu},
            "emulated": self.emulated(a),
            "cpuinfo_model": machine_line.partition(":")[2].strip(),
            "runtime": got["runtime"],
            "edgenets": {"version": got["edgenets"], "wheel": wheel.name, "sha256": sha256_file(wheel)},
            "requirements": [requirement_arg(r) for r in top],
            "packages": packages,
            "system_packages": system,
            "site_packages_bytes": dir_bytes(site),
            # what `pip install "edgenets[device]"` added to a fresh venv (which brings pip and setuptools)
            "installed_bytes": sum(p["bytes"] for p in packages if canonicalize_name(p["name"]) not in ("pip", "setuptools")),
            "user": BOARD_USER if self.user is not None else None,
            "paths": {"root": str(home), "sysroot": str(home / "sysroot"), "venv": str(venv),
                      "python": str(venv / "bin" / "python"), "wrapper": str(home / "bin" / "python3"),
                      "wheelhouse": str(home / "wheelhouse"), "work": str(self.dir / "work")},
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        write_if_changed(home / "board.json", json.dumps(info, indent=1) + "\n")
        log(f"{a.name}: {info['runtime']}, numpy {got['numpy']}, site-packages "
            f"{info['site_packages_bytes'] / 2**20:.1f} MiB ({len(packages)} packages; edgenets[device] "
            f"{info['installed_bytes'] / 2**20:.1f} MiB of it) -> {home / 'board.json'}")

    @staticmethod
    def dist_bytes(site: Path, name: str, version: str) -> int:
        """Bytes a distribution installed: the files in its RECORD and their compiled .pyc files."""
        for dist_info in site.glob("*.dist-info"):
            stem = dist_info.name[: -len(".dist-info")]
            n, _, v = stem.rpartition("-")
            if canonicalize_name(n) != canonicalize_name(name) or v != version:
                continue
            total = 0
            try:
                lines = (dist_info / "RECORD").read_text().splitlines()
            except OSError:
                return 0
            for line in lines:
                p = site / line.rsplit(",", 2)[0].strip('"')
                if "__pycache__" in p.parts:
                    continue  # counted from its .py below, whoever compiled it
                paths = [p]
                if p.suffix == ".py":
                    paths.append(p.parent / "__pycache__" / f"{p.stem}.cpython-311.pyc")
                for q in paths:
                    with contextlib.suppress(OSError):
                        total += q.lstat().st_size
            return total
        return 0

    # ---------------------------------------------------------- all of it

    def build(self) -> None:
        t0 = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = open(self.dir / ".lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time per board folder
        try:
            self.preflight()
            self.qemu()
            self.qemu_version = read_stamp(self.dir / "qemu" / ".stamp") or "unknown"
            wheel = self.wheel()
            for a in self.arches:
                home = self.dir / a.name
                home.mkdir(exist_ok=True)
                self.write_wrapper(a)
                changed = self.sysroot(a)
                self.write_cpuinfo(a)
                sysroot_key = read_stamp(home / "sysroot.stamp")
                facts = self.guest_facts(a, sysroot_key)
                house_key, top = self.wheelhouse(a, wheel, facts)
                changed = self.venv(a, wheel, house_key, sysroot_key) or changed
                if changed or not (home / "board.json").exists():
                    self.describe(a, wheel, top)
                else:
                    log(f"{a.name}: up to date ({home / 'board.json'})")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()
        log(f"done in {time.monotonic() - t0:.1f} s: " + ", ".join(
            f"{self.dir / a.name / 'venv/bin/python'}" for a in self.arches))


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=os.environ.get("BOARD_DIR") or ".board",
                        help="where the boards live, relative to the checkout (default: $BOARD_DIR, else .board)")
    parser.add_argument("--arch", default=",".join(ARCHES), help="comma-separated: " + ", ".join(ARCHES))
    args = parser.parse_args(argv)
    arches = [a.strip() for a in args.arch.split(",") if a.strip()]
    unknown = [a for a in arches if a not in ARCHES]
    if unknown:
        print(f"board: unknown arch {', '.join(unknown)} (choose from {', '.join(ARCHES)})", file=sys.stderr)
        return 2
    board_dir = (REPO / args.dir).resolve()  # as tests/boards.py finds it
    if re.search(r"['\"\\$`\s]", str(board_dir)):
        print(f"board: error: {board_dir}: the board folder's path goes into shell wrappers; choose one without "
              "quotes, spaces, backslashes, $ or `", file=sys.stderr)
        return 2
    try:
        Builder(board_dir, arches).build()
    except BuildError as exc:
        print(f"board: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("board: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
