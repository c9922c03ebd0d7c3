"""``edgenets bench --remote HOST...``: the same bench on every board, in parallel, one ssh connection each.

The desktop loads the evaluation images once (``load_eval_data``: the subset a desktop bench would
use), packs them with the model files and their sidecars into one tar upload, and sends it to every
host; the board unpacks it into a temporary folder, runs ``edgenets bench`` there with the same options
and replies with the results document (``_board.py``). A host that fails is one line naming it and
why; the others still report.

What comes back is the board's own document, with two things put back to what the desktop knows: each
row's ``path`` is the path given on this command line (the board ran a copy in a temporary folder), and
the data set is named as the desktop named it (the board read the same images from the shipped .npz).
``environment.remote`` records the host and venv. Everything else -- the board's hostname, CPU,
runtime, ``environment.emulated`` -- passes through untouched.
"""

from __future__ import annotations

import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Optional, Sequence, TypeVar

from edgenets.errors import InputError, first_line
from edgenets.remote import DEFAULT_VENV, ssh
from edgenets.remote.setup import SetupRequest, board_failure, parse_reply, python_command, setup_hint, setup_host

Log = Callable[[str], None]
T = TypeVar("T")
EVAL_NPZ = "data/eval.npz"
_DEFAULT_CLASSES = [str(i) for i in range(10)]


@dataclass(frozen=True)
class BenchOptions:
    """The bench options the board gets, as the user gave them (validated on the desktop first)."""

    device: str = "cpu"
    delegate: Optional[str] = None  # a path ON THE BOARD
    threads: str = "1"
    runs: int = 200
    warmup: int = 20
    min_seconds: float = 2.0
    rounds: int = 10
    runtime: str = "auto"
    per_class: bool = False
    profile: bool = False

    def argv(self) -> list[str]:
        args = ["--device", self.device, "--threads", self.threads, "--runs", str(self.runs), "--warmup", str(self.warmup),
                "--min-seconds", repr(float(self.min_seconds)), "--rounds", str(self.rounds), "--runtime", self.runtime]
        if self.delegate:
            args += ["--delegate", self.delegate]
        if self.per_class:
            args.append("--per-class")
        if self.profile:
            args.append("--profile")
        return args


@dataclass
class Upload:
    """The tar every host gets, and how the board's paths map back to the desktop's."""

    files: list[tuple[str, Any]]  # (name in the tar, a Path or bytes)
    models: list[str]  # the board's relative model paths, in command-line order
    local_paths: dict[str, str]  # board path -> the path as given here
    dataset: str  # "mnist (test, 100 images)", as a desktop bench names it
    data_name: str
    split: str

    def write(self, stream: BinaryIO) -> None:
        import tarfile

        with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT, dereference=True) as tar:  # links: their files
            for name, source in self.files:
                if isinstance(source, bytes):
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = len(source), 0o644, int(time.time())
                    tar.addfile(info, io.BytesIO(source))
                else:
                    tar.add(str(source), arcname=name, recursive=False)

    @property
    def size(self) -> int:
        return sum(len(s) if isinstance(s, bytes) else Path(s).stat().st_size for _, s in self.files)


def prepare_upload(models: Sequence[Path], dataset: Any = "mnist", limit: Optional[int] = None) -> Upload:
    """Models (+ sidecars) under models/<i>/<name>/export/ and the evaluation images as a keras-layout .npz.

    The board's folder layout keeps each file's model name (bench names ``model_int8.tflite`` after its
    run folder) and its file name (which can carry the precision).
    """
    import numpy as np

    from edgenets.bench.runner import load_eval_data, model_name, read_sidecar

    for m in models:
        if not Path(m).is_file():
            raise InputError(f"{m}: file not found (nothing to send to the board)")
    data = load_eval_data(dataset, limit)
    classes = [str(c) for c in data["class_names"]]
    files: list[tuple[str, Any]] = []
    board_models: list[str] = []
    local_paths: dict[str, str] = {}
    for i, model in enumerate(models):
        path = Path(model)
        try:
            sidecar = read_sidecar(path)
        except InputError:  # the board's bench reports the unreadable sidecar on that row, as a local bench would
            sidecar = None
        name = model_name(path, sidecar)  # the board derives the same name from this layout (or the sidecar)
        board = f"models/{i}/{name if name not in ('', '.', '..') else 'model'}/export/{path.name}"
        files.append((board, path))
        side = path.with_suffix(".json")
        if classes != _DEFAULT_CLASSES and not any(isinstance(sidecar, dict) and sidecar.get(k) for k in ("labels", "class_names")):
            # the .npz carries no class names a board's loader reads: the sidecar carries them (bench prefers its labels)
            files.append((str(Path(board).with_suffix(".json")),
                          json.dumps({**(sidecar or {}), "labels": classes}).encode("utf-8")))
        elif side.is_file():
            files.append((str(Path(board).with_suffix(".json")), side))
        board_models.append(board)
        local_paths[board] = str(model)
    images, labels = data["images"], data["labels"]
    buf = io.BytesIO()
    # x_train is required by the loader: one image of it; bench evaluates x_test, the images a desktop would use
    np.savez_compressed(buf, x_train=images[:1], y_train=labels[:1], x_test=images, y_test=labels,
                        class_names=np.array(classes))
    files.append((EVAL_NPZ, buf.getvalue()))
    described = f"{data['name']} ({data['split']}, {len(labels)} images)"
    return Upload(files, board_models, local_paths, described, data["name"], data["split"])


def human_size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{max(1, round(n / 1e3))} kB"


# ------------------------------------------------------------------ one host


@dataclass
class HostRun:
    host: ssh.Host
    doc: Optional[dict] = None  # the results document (also when some rows failed)
    error: Optional[str] = None  # one line: why this host failed
    seconds: float = 0.0
    setup: Optional[dict] = None  # what board setup installed, with --setup
    notes: list[str] = field(default_factory=list)


def _adopt(doc: dict, upload: Upload, host: ssh.Host, venv: str) -> dict:
    """The board's paths and data-set name back to the desktop's (see the module docstring)."""
    env = doc["environment"]
    env["dataset"] = upload.dataset
    env["remote"] = {"host": host.spec, "venv": venv}
    for row in doc["results"]:
        row["path"] = upload.local_paths.get(row.get("path"), row.get("path"))
        ev = ((row.get("metrics") or {}).get("eval")) if isinstance(row.get("metrics"), dict) else None
        if isinstance(ev, dict):
            ev["dataset"], ev["split"] = upload.data_name, upload.split
    return doc


def bench_host(host: ssh.Host, upload: Upload, options: BenchOptions, *, venv: str = DEFAULT_VENV,
               ssh_config: Optional[Path] = None, log: Optional[Log] = None) -> HostRun:
    """Run the bench on one board; the board's failures are ``HostRun.error``, never an exception."""
    from edgenets import __version__
    from edgenets.bench.results import validate

    start = time.monotonic()
    run = HostRun(host)
    request = {"action": "bench", "models": upload.models, "options": [*options.argv(), "--dataset", EVAL_NPZ]}
    command = python_command(ssh.remote_path(venv) + "/bin/python", request, check="venv")

    def show(line: str) -> None:
        if log and line.strip() != "wrote results.json":  # the board's temporary file, gone by now
            for board_path, local in upload.local_paths.items():  # name the files as the user did
                line = line.replace(board_path, local)
            log(f"[{host.spec}] {line}")

    try:
        done = ssh.run(host, command, send=upload.write, on_line=show, ssh_config=ssh_config)
    except OSError as exc:
        run.error = f"reading the upload failed: {first_line(exc)}"
        return run
    run.seconds = time.monotonic() - start
    reply = parse_reply(done.stdout)
    if reply is None:
        run.error = board_failure(host, done, venv=venv)
        return run
    if not reply.get("ok"):
        error = str(reply.get("error") or "bench failed on the board")
        if reply.get("kind") == "no-edgenets":
            error += f": run `{setup_hint(host, venv)}`"
        elif reply.get("kind") == "no-space":
            error += f"; the upload needs {human_size(upload.size)} there"
        run.error = error
        return run
    try:
        doc = validate(json.loads(reply.get("results") or ""), f"{host.spec}: results")
    except ValueError as exc:
        run.error = f"the board's results are not valid JSON ({first_line(exc)})"
        return run
    except InputError as exc:
        run.error = f"the board's results are not an edgenets results document: {exc}"
        return run
    run.doc = _adopt(doc, upload, host, venv)
    board_version = doc["environment"].get("edgenets_version")
    if board_version != __version__:
        run.notes.append(f"warning: {host.spec} runs edgenets {board_version}, this desktop {__version__}: "
                         f"`{setup_hint(host, venv)}` installs this one")
    bad = [r for r in doc["results"] if r.get("status") != "ok"]
    if bad or reply.get("rc"):
        first = bad[0] if bad else None
        run.error = (f"edgenets bench on the board exited with code {reply.get('rc')}: {len(bad)} of {len(doc['results'])} "
                     f"rows failed" + (f"; first: {first.get('path')}: {first.get('error')}" if first else
                                       f": {reply.get('error')}"))
    return run


# ------------------------------------------------------------------ many hosts


def for_each_host(hosts: Sequence[ssh.Host], work: Callable[[ssh.Host], T]) -> list[T]:
    """``work(host)`` for every host at once (threads: the time is spent waiting for the boards); results in
    host order. An interrupt ends every ssh process before it propagates."""
    ssh.allow_new()
    if len(hosts) == 1:
        try:
            return [work(hosts[0])]
        except BaseException:
            ssh.stop_all()
            raise
    pool = ThreadPoolExecutor(max_workers=len(hosts), thread_name_prefix="edgenets-remote")
    try:
        futures = [pool.submit(work, h) for h in hosts]
        return [f.result() for f in futures]
    except BaseException:
        ssh.stop_all()
        raise
    finally:
        pool.shutdown(wait=False)


def bench_fleet(hosts: Sequence[ssh.Host], upload: Upload, options: BenchOptions, *, venv: str = DEFAULT_VENV,
                ssh_config: Optional[Path] = None, setup: Optional[SetupRequest] = None,
                log: Optional[Log] = None) -> list[HostRun]:
    """Bench on every host in parallel (each set up first with ``setup``); one HostRun per host, in order."""

    def one(host: ssh.Host) -> HostRun:
        try:
            return setup_and_bench(host)
        except Exception as exc:  # noqa: BLE001 - a bug shows on its host; the other boards still report
            return HostRun(host, error=f"unexpected {type(exc).__name__}: {first_line(exc)}")

    def setup_and_bench(host: ssh.Host) -> HostRun:
        prepared = None
        if setup is not None:
            done = setup_host(host, setup, venv=venv, ssh_config=ssh_config, log=log)
            if done.error:
                return HostRun(host, error=f"setup failed: {done.error}", seconds=done.seconds)
            prepared = done.facts
            if log:
                log(done.summary(venv))
        run = bench_host(host, upload, options, venv=venv, ssh_config=ssh_config, log=log)
        run.setup = prepared
        return run

    return for_each_host(hosts, one)


# ------------------------------------------------------------------ files


def host_results_path(host: ssh.Host, output: Optional[Path], results_dir: Optional[Path]) -> Path:
    """Where a host's results document goes: DIR/<host>.json with --results-dir, else <output stem>.<host>.json
    beside --output, else bench.<host>.json here. <host> is host[_port] (pi5.local, 10.0.0.7_2222)."""
    if results_dir is not None:
        return Path(results_dir) / f"{host.slug}.json"
    if output is not None:
        return Path(output).with_name(f"{Path(output).stem}.{host.slug}.json")
    return Path(f"bench.{host.slug}.json")


def check_destinations(hosts: Sequence[ssh.Host], output: Optional[Path], results_dir: Optional[Path]) -> None:
    """Fail before any ssh: the per-host files must be writable files, and none may be --output itself."""
    import os

    if results_dir is not None and results_dir.exists() and not results_dir.is_dir():
        raise InputError(f"--results-dir {results_dir}: exists and is not a folder")
    for h in hosts:
        path = host_results_path(h, output, results_dir)
        if path.is_dir():
            raise InputError(f"{path}: is a directory (where {h.spec}'s results go)")
        if output is not None and path.resolve() == Path(output).resolve():
            raise InputError(f"--output {output}: is also where {h.spec}'s results go; choose another name")
        parent = path.parent if str(path.parent) else Path(".")
        if parent.exists() and not os.access(parent, os.W_OK):
            raise InputError(f"{path}: cannot write into {parent}")


def with_failures(text: str, fmt: str, failed: Sequence[HostRun]) -> str:
    """The merged rendering as written to --output, naming the boards that failed (JSON: "failed"; table and
    Markdown: a line each; CSV stays plain rows)."""
    if not failed:
        return text
    if fmt == "json":
        merged = json.loads(text)
        merged["failed"] = [{"host": r.host.spec, "error": r.error} for r in failed]
        return json.dumps(merged, indent=2) + "\n"
    if fmt in ("table", "md"):
        bullet = "- " if fmt == "md" else ""
        return text + "\n" + "\n".join(f"{bullet}{r.host.spec}: FAILED: {r.error}" for r in failed) + "\n"
    return text


def write_host_results(runs: Sequence[HostRun], output: Optional[Path], results_dir: Optional[Path],
                       log: Optional[Log] = None) -> list[tuple[str, dict]]:
    """Each host's document to its file (atomically); returns [(file, doc)] for compare, in host order."""
    from edgenets._io import write_text
    from edgenets.bench.results import dumps

    written = []
    for run in runs:
        path = host_results_path(run.host, output, results_dir)
        if run.doc is None:
            if path.exists() and log:  # left as it was, but `compare fleet.*.json` must not pass it off as new
                log(f"note: {path} is from an earlier run ({run.host.spec} failed this time)")
            continue
        write_text(path, dumps(run.doc))
        if log:
            log(f"wrote {path}")
        written.append((str(path), run.doc))
    return written


__all__ = ["BenchOptions", "HostRun", "Upload", "bench_fleet", "bench_host", "check_destinations", "for_each_host",
           "host_results_path", "human_size", "prepare_upload", "with_failures", "write_host_results"]
