"""`edgenets bench --remote` and `edgenets board setup` against a REAL sshd on 127.0.0.1, no mocks.

The fixture starts Debian's /usr/sbin/sshd as an ordinary process (its own host key, authorized key,
free port, PidFile) and writes a client ssh_config (passed with --ssh-config) whose known_hosts holds
the server's real host key: host-key checking stays on. Only loopback is ever contacted.

Behind that sshd is the EMULATED arm64 Raspberry Pi OS (tests/boards.py, `make board`): the remote
venv is the board's, so `VENV/bin/python` is Python 3.11 for aarch64 under qemu-user. When the tests
run as root, sshd logs in as the board's unprivileged user (guest programs must never run as root);
otherwise sshd runs as, and logs in as, the current user. Tests that need the board skip without it.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from boards import NOT_BUILT, find_board
from conftest import assert_one_line_error

from edgenets import __version__

SSHD = "/usr/sbin/sshd"
SFTP = "/usr/lib/openssh/sftp-server"
LIMIT = 100
TINY = ["--runs", "5", "--warmup", "1", "--min-seconds", "0", "--rounds", "1", "--limit", str(LIMIT)]
IS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def board():
    found = find_board("arm64")
    if found is None:
        pytest.skip(NOT_BUILT.format(arch="arm64"))
    return found


# ------------------------------------------------------------------ a real sshd on loopback


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)],
                   check=True, capture_output=True)
    kind, key = path.with_suffix(".pub").read_text().split()[:2]
    return f"{kind} {key}"


class Sshd:
    """sshd on 127.0.0.1:<port>, plus a client config with one Host alias per scenario."""

    def __init__(self, root: Path, user: str):
        self.root, self.user = root, user
        self.port = _free_port()
        self.dead_port = _free_port()  # nothing listens there: connection refused
        host_pub = _keygen(root / "host_key")
        other_host_pub = _keygen(root / "other_host_key")
        client_pub = _keygen(root / "client_key")
        _keygen(root / "stranger_key")  # a key the server does not know
        (root / "authorized_keys").write_text(client_pub + "\n")
        (root / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {host_pub}\n")
        (root / "known_hosts_changed").write_text(f"[127.0.0.1]:{self.port} {other_host_pub}\n")
        (root / "known_hosts_empty").write_text("")
        (root / "sshd_config").write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {root / 'host_key'}", f"PidFile {root / 'sshd.pid'}",
            f"AuthorizedKeysFile {root / 'authorized_keys'}", f"AllowUsers {user}",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
            # root: PAM, because the board's system account has a locked password (sshd alone refuses it);
            # not root: no PAM (an unprivileged sshd cannot use it, and can only log in as its own user)
            f"UsePAM {'yes' if IS_ROOT else 'no'}", "StrictModes no", f"Subsystem sftp {SFTP}", "LogLevel VERBOSE",
            "AcceptEnv TMPDIR",  # the "full" alias sends one: the board's temporary folder on a full disk
            "",
        ]))
        common = [f"  User {user}", f"  IdentityFile {root / 'client_key'}", "  IdentitiesOnly yes", "  BatchMode yes",
                  "  StrictHostKeyChecking yes", "  ConnectTimeout 10"]
        aliases = {
            "board": (self.port, "known_hosts", "client_key"),
            "board2": (self.port, "known_hosts", "client_key"),  # the same board under a second name
            "dead": (self.dead_port, "known_hosts", "client_key"),
            "stranger": (self.port, "known_hosts", "stranger_key"),
            "changed": (self.port, "known_hosts_changed", "client_key"),
            "unknown": (self.port, "known_hosts_empty", "client_key"),
        }
        lines = []
        for alias, (port, known, key) in aliases.items():
            lines += [f"Host {alias}", "  HostName 127.0.0.1", f"  Port {port}", f"  UserKnownHostsFile {root / known}",
                      *[c.replace("client_key", key) for c in common]]
        self.full_disk = root / "full-disk"  # a mount point for a tiny tmpfs (test_a_full_disk_on_the_board)
        self.full_disk.mkdir()
        lines += ["Host full", "  HostName 127.0.0.1", f"  Port {self.port}", f"  UserKnownHostsFile {root / 'known_hosts'}",
                  f"  SetEnv TMPDIR={self.full_disk}", *common]
        self.config = root / "ssh_config"
        self.config.write_text("\n".join(lines) + "\n")
        for p in root.iterdir():
            p.chmod(0o755 if p.is_dir() else 0o600 if p.name.endswith("_key") else 0o644)
        root.chmod(0o755)  # the login user reads authorized_keys from here
        self.log = root / "sshd.log"
        if IS_ROOT:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([SSHD, "-f", str(root / "sshd_config"), "-D", "-e"], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"sshd did not listen on {self.port}: {self.log.read_text()[-2000:]}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def sshd(request):
    if not Path(SSHD).is_file():
        pytest.skip("needs Debian's openssh-server (apt-get install -y openssh-server)")
    found = find_board("arm64") if IS_ROOT else None
    if IS_ROOT:
        user = found.user if found is not None else "root"  # without the board no guest program runs here
    else:
        user = getpass.getuser()
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="edgenets-sshd-"))  # not under pytest's 0700 basetemp: the user reads it
    server = Sshd(root, user)
    request.addfinalizer(lambda: (server.stop(), shutil.rmtree(root, ignore_errors=True)))
    return server


# ------------------------------------------------------------------ models


@pytest.fixture(scope="module")
def models(tmp_path_factory, mnist_small):
    """runs/tiny/export/model_{float32,int8}.tflite (+ the int8 sidecar), trained briefly."""
    import keras

    from edgenets.export.convert import to_tflite

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(mnist_small.x_train.astype("float32") / 255.0, mnist_small.y_train, epochs=2, batch_size=32, verbose=0)
    export = tmp_path_factory.mktemp("remote") / "runs" / "tiny" / "export"
    export.mkdir(parents=True)
    paths = []
    for precision in ("float32", "int8"):
        path = export / f"model_{precision}.tflite"
        rep = mnist_small.x_train[:100] if precision == "int8" else None
        path.write_bytes(to_tflite(model, precision, representative=rep, progress=False))
        paths.append(path)
    (export / "model_int8.json").write_text(json.dumps({"precision": "int8", "labels": [str(i) for i in range(10)],
                                                        "preprocessing": "pixels/255"}))
    return paths


def _work_dirs(board=None) -> set[str]:
    """The board-side temporary folders left behind (a guest's /tmp write lands in the sysroot or on the host)."""
    roots = [Path("/tmp")] + ([board.sysroot / "tmp"] if board is not None else [])
    return {str(p) for r in roots for p in r.glob("edgenets-bench-*")} | \
           {str(p) for r in roots for p in r.glob("edgenets-setup-*")}


def _venv(board) -> Path:
    """The board's own venv (its bin/python runs the emulated Python)."""
    return board.venv


def _wrapper(board) -> Path:
    """The board's python3 (like /usr/bin/python3 on a Pi): what `board setup` makes a venv with."""
    return Path(board.info.get("paths", {}).get("wrapper") or board.root / "bin" / "python3")


def _wheelhouse(board) -> Path:
    """The wheels `make board` installed the board's venv from: aarch64 numpy, ai-edge-litert, typer, ..."""
    return Path(board.info.get("paths", {}).get("wheelhouse") or board.root / "wheelhouse")


@pytest.fixture
def board_dir(board):
    """A fresh folder in the boards' scratch area, owned by the board user; removed afterwards."""
    path = board.workdir("remote-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _remote(sshd, *hosts, venv=None):
    args = ["--ssh-config", str(sshd.config)]
    for h in hosts:
        args += ["--remote", h]
    return args + (["--remote-venv", str(venv)] if venv else [])


def _failure_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "FAILED:" in line or line.startswith("error: ")]


def assert_failed(result, *fragments: str, code: int = 1) -> str:
    """A clean failure of a remote command: the exit code, and the one 'error:' line (the last line; the board's
    progress comes before it) naming the host and the problem; no traceback. Returns that line."""
    assert result.code == code, (result.code, result.out, result.err)
    assert "Traceback" not in result.err + result.out
    lines = [line for line in result.err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.err
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


# ------------------------------------------------------------------ no ssh: parsing, the door


def test_host_specs_parse_and_reject_what_ssh_would_misread():
    from edgenets.errors import InputError
    from edgenets.remote.ssh import parse_host, parse_hosts, ssh_argv

    h = parse_host("pi@pi5.local:2222")
    assert (h.destination, h.port, h.slug) == ("pi@pi5.local", 2222, "pi5.local_2222")
    assert parse_host("pi5").destination == "pi5" and parse_host("pi5").port is None
    v6 = parse_host("pi@[fe80::1]:22")
    assert (v6.destination, v6.port) == ("pi@fe80::1", 22)
    for bad, words in [("", "empty host"), ("-oProxyCommand=touch x", "cannot start with '-'"), ("pi@", "no host"),
                       ("@pi5", "empty user"), ("pi5:0", "port"), ("pi5:x", "port"), ("pi 5", "spaces"),
                       ("pi5;reboot", "shell characters"), ("[::1", "[ADDRESS]")]:
        with pytest.raises(InputError, match=words.replace("[", r"\[")):
            parse_host(bad)
    with pytest.raises(InputError, match="given twice"):
        parse_hosts(["pi5", "pi5"])
    with pytest.raises(InputError, match="same host and port"):
        parse_hosts(["pi@pi5", "root@pi5"])
    argv = ssh_argv(parse_host("pi@pi5:2200"), "true")
    assert "BatchMode=yes" in argv and "-p" in argv and argv[-3:] == ["--", "pi@pi5", "true"]
    assert not any("StrictHostKeyChecking" in a or "UserKnownHostsFile" in a for a in argv)  # the user's policy, untouched


def test_results_files_are_named_after_output_or_results_dir(tmp_path):
    from edgenets.remote.fleet import host_results_path
    from edgenets.remote.ssh import parse_host

    pi5, pi4 = parse_host("pi@pi5.local"), parse_host("pi@10.0.0.4:2222")
    assert host_results_path(pi5, tmp_path / "fleet.json", None) == tmp_path / "fleet.pi5.local.json"
    assert host_results_path(pi4, tmp_path / "fleet.md", None) == tmp_path / "fleet.10.0.0.4_2222.json"
    assert host_results_path(pi5, tmp_path / "fleet.md", tmp_path / "boards") == tmp_path / "boards" / "pi5.local.json"
    assert host_results_path(pi5, None, None) == Path("bench.pi5.local.json")


def test_a_failed_host_leaves_an_earlier_runs_file_alone_and_says_so(tmp_path):
    from edgenets.remote.fleet import HostRun, write_host_results
    from edgenets.remote.ssh import parse_host

    old = tmp_path / "fleet.pi5.local.json"
    old.write_text("{}")
    lines = []
    assert write_host_results([HostRun(parse_host("pi@pi5.local"), error="ssh: connect to host pi5.local: No route")],
                              tmp_path / "fleet.json", None, log=lines.append) == []
    assert old.read_text() == "{}"
    assert lines == [f"note: {old} is from an earlier run (pi@pi5.local failed this time)"]


def test_symlinked_models_travel_as_their_files(models, mnist_small, tmp_path):
    """A model reached through a link (DVC, git-annex, best.tflite -> ...) goes up as the file: the board's
    unpacker accepts only files and folders."""
    import io
    import tarfile

    from edgenets.remote.fleet import prepare_upload

    link = tmp_path / "runs" / "best" / "export" / "model_int8.tflite"
    link.parent.mkdir(parents=True)
    link.symlink_to(models[1])
    upload = prepare_upload([link], mnist_small, 20)
    buf = io.BytesIO()
    upload.write(buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf, mode="r:") as tar:
        members = {m.name: m for m in tar.getmembers()}
        model = members[upload.models[0]]
        assert model.isfile() and tar.extractfile(model).read() == Path(models[1]).read_bytes()
        assert all(m.isfile() or m.isdir() for m in members.values())


def test_the_board_script_needs_only_a_plain_python_37():
    """_board.py runs on the board as `python -c` before anything is installed: standard library, Python >= 3.7."""
    import ast
    import sys

    import edgenets.remote

    if not hasattr(sys, "stdlib_module_names"):
        pytest.skip("needs Python >= 3.10 to list the standard library")
    source = (Path(edgenets.remote.__file__).parent / "_board.py").read_text()
    tree = ast.parse(source, feature_version=(3, 7))
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert modules <= set(sys.stdlib_module_names), modules - set(sys.stdlib_module_names)


def test_remote_modules_import_no_tensorflow_nor_numpy():
    import subprocess
    import sys

    code = ("import sys, edgenets.remote.fleet, edgenets.remote.setup, edgenets.commands.board; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'numpy')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("args, words", [
    (["--setup"], "--setup needs --remote"),
    (["--results-dir", "x"], "--results-dir needs --remote"),
    (["--remote-venv", "v"], "--remote-venv needs --remote"),
    (["--remote", ""], "empty host"),
    (["--remote", "nowhere.invalid", "--wheel", "x.whl"], "--wheel needs --setup"),
    (["--remote", "nowhere.invalid", "--ssh-config", "missing_config"], "--ssh-config missing_config: file not found"),
    (["--remote", "nowhere.invalid", "--runs", "0"], "--runs must be >= 1"),
    (["--remote", "nowhere.invalid", "--runtime", "onnx"], "'--runtime'"),
    (["--remote", "nowhere.invalid", "--output", "fleet.yaml"], "unknown suffix"),
    (["--remote", "nowhere.invalid", "--setup", "--wheelhouse", "no_such_dir"], "--wheelhouse no_such_dir: not a folder"),
])
def test_remote_options_are_checked_before_any_connection(run_cli, tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.tflite").write_bytes(b"\0" * 64)
    result = run_cli("bench", "m.tflite", *args)
    assert_one_line_error(result, words, code=2)
    assert "Could not resolve" not in result.err  # no ssh was started
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite"]


def test_missing_model_is_refused_before_any_connection(run_cli, tmp_path):
    result = run_cli("bench", str(tmp_path / "absent.tflite"), "--remote", "nowhere.invalid")
    assert_one_line_error(result, "absent.tflite: file not found", code=2)


# ------------------------------------------------------------------ ssh's own failures (no Python runs)


@pytest.mark.board
@pytest.mark.parametrize("alias, words", [
    ("dead", f"Connection refused"),
    ("stranger", "Permission denied (publickey)"),
    ("changed", "host key has CHANGED"),
    ("unknown", "No ED25519 host key is known for [127.0.0.1]"),
])
def test_ssh_failures_are_one_line_naming_the_host(run_cli, sshd, models, tmp_path, alias, words):
    out = tmp_path / "out"
    result = run_cli("bench", *map(str, models), *_remote(sshd, alias), *TINY, "--output", str(out / "fleet.json"))
    assert_failed(result, f"error: {alias}: ", words)
    assert not out.exists()  # nothing written, not even a folder
    if alias == "changed":
        assert "known_hosts_changed:1" in result.err and "ssh-keygen -R" in result.err


@pytest.mark.board
def test_no_venv_on_the_board_says_run_board_setup(run_cli, sshd, models, tmp_path):
    result = run_cli("bench", str(models[0]), *_remote(sshd, "board", venv=tmp_path / "no-venv"), *TINY,
                     "--results-dir", str(tmp_path / "r"))
    assert_failed(result, "error: board: no venv at", "run `edgenets board setup board --remote-venv")
    assert not (tmp_path / "r").exists()


@pytest.mark.board
def test_setup_without_python_on_the_board(run_cli, sshd, tmp_path):
    wheel = tmp_path / "edgenets-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"not used: the board has no such Python")
    result = run_cli("board", "setup", "board", "--ssh-config", str(sshd.config), "--wheel", str(wheel),
                     "--remote-python", "/nonexistent/python3", "--remote-venv", str(tmp_path / "v"))
    assert_failed(result, "error: board: no Python on the board (/nonexistent/python3 not found)")


# ------------------------------------------------------------------ the emulated board behind sshd


@pytest.fixture(scope="module")
def x86_bench(models):
    """The same files, the same options, benched here on x86: the board must measure the same accuracy."""
    from edgenets.bench import run_bench

    return run_bench(models, runs=5, warmup=1, min_seconds=0, rounds=1, limit=LIMIT)


def _assert_metrics_equal(doc, reference):
    want = {r["sha256"]: r for r in reference["results"]}
    assert sorted(r["sha256"] for r in doc["results"]) == sorted(want)
    for r in doc["results"]:
        assert r["status"] == "ok", r.get("error")
        w = want[r["sha256"]]
        assert (r["model"], r["precision"], r["path"]) == (w["model"], w["precision"], w["path"])
        assert r["metrics"]["eval"]["images"] == LIMIT
        assert r["metrics"]["eval"]["dataset"] == w["metrics"]["eval"]["dataset"] == "mnist"
        for key in ("accuracy", "precision", "recall", "f1", "confusion_matrix"):
            assert r["metrics"][key] == w["metrics"][key], (r["precision"], key)


@pytest.mark.board
@pytest.mark.slow
def test_fleet_with_a_dead_host_reports_the_board_and_fails_the_other(run_cli, sshd, board, models, x86_bench, tmp_path):
    before = _work_dirs(board)
    out = tmp_path / "out" / "fleet.json"
    start = time.monotonic()
    result = run_cli("bench", *map(str, models), *_remote(sshd, "board", "dead", venv=_venv(board)),
                     *TINY, "--output", str(out))
    seconds = time.monotonic() - start
    assert result.code == 1, result.err
    assert sorted(p.name for p in out.parent.iterdir()) == ["fleet.board.json", "fleet.json"]  # none for the dead host
    lines = _failure_lines(result.err)
    assert any(line.startswith(f"dead: FAILED: ssh: connect to host 127.0.0.1 port {sshd.dead_port}: Connection refused")
               for line in lines), result.err
    assert lines[-1] == "error: 1 of 2 boards failed: dead"
    assert "Traceback" not in result.err
    # the good host's document: the emulated arm64 board, the desktop's paths and data-set name, the x86 accuracy
    doc = json.loads((out.parent / "fleet.board.json").read_text())
    env = doc["environment"]
    assert env["machine"] == "aarch64" and env["emulated"] and "qemu" in env["emulated"]
    assert env["dataset"] == x86_bench["environment"]["dataset"] == f"mnist (test, {LIMIT} images)"
    assert env["remote"] == {"host": "board", "venv": str(_venv(board))}
    _assert_metrics_equal(doc, x86_bench)
    # the merged table: printed, written by suffix, and compare reruns on the kept document
    merged = json.loads(out.read_text())
    assert [d["source"] for d in merged["devices"]] == [str(out.parent / "fleet.board.json")]
    assert [f["host"] for f in merged.pop("failed")] == ["dead"]  # the written file names the board that failed
    assert "(emulated)" in result.out and "tiny" in result.out
    again = run_cli("compare", str(out.parent / "fleet.board.json"), "--format", "json")
    assert again.code == 0 and json.loads(again.out)["rows"] == merged["rows"]
    assert _work_dirs(board) == before  # the board's temporary folder is gone
    print(f"remote bench, 2 files on the emulated arm64 board + a dead host: {seconds:.1f} s")


@pytest.mark.board
@pytest.mark.slow
def test_two_boards_in_parallel_match_x86(run_cli, sshd, board, models, x86_bench, tmp_path):
    """Two aliases of the one emulated board: two connections, two documents, one compare with two columns."""
    result = run_cli("bench", *map(str, models), *_remote(sshd, "board", "board2", venv=_venv(board)), *TINY,
                     "--results-dir", str(tmp_path / "r"), "--format", "md")
    assert result.code == 0, result.err
    files = sorted((tmp_path / "r").iterdir())
    assert [f.name for f in files] == ["board.json", "board2.json"]
    for f in files:
        _assert_metrics_equal(json.loads(f.read_text()), x86_bench)
    assert result.out.startswith("## edgenets compare") and "[2] acc %" in result.out


@pytest.mark.board
@pytest.mark.slow
def test_failed_rows_on_the_board_keep_the_document_and_exit_1(run_cli, sshd, board, models, tmp_path):
    out = tmp_path / "fleet.csv"
    result = run_cli("bench", str(models[1]), *_remote(sshd, "board", venv=_venv(board)), *TINY,
                     "--delegate", "/nonexistent/libdelegate.so", "--output", str(out))
    assert_failed(result, "error: board: edgenets bench on the board exited with code 1: 1 of 1 rows failed; first: "
                          f"{models[1]}: ", "libdelegate.so")
    doc = json.loads((tmp_path / "fleet.board.json").read_text())  # written, as a local bench writes its failures
    assert doc["results"][0]["status"] == "error" and doc["results"][0]["path"] == str(models[1])
    assert out.is_file() and "error" in out.read_text()  # CSV: the rows (the failed one says error), no footer


@pytest.mark.board
@pytest.mark.slow
def test_a_venv_without_edgenets_says_run_board_setup(run_cli, sshd, board, board_dir, models):
    venv = board_dir / "bare-venv"
    proc = board.run([_wrapper(board), "-m", "venv", "--without-pip", venv], timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = run_cli("bench", str(models[0]), *_remote(sshd, "board", venv=venv), *TINY)
    assert_failed(result, f"error: board: no edgenets in the venv {venv}: run `edgenets board setup board "
                          f"--remote-venv {venv}`")


@pytest.mark.board
@pytest.mark.slow
def test_a_bench_killed_on_the_board_fails_that_host_and_cleans_up(run_cli, sshd, board, models, tmp_path):
    """The board's bench process dies (SIGKILL, as the OOM killer does it): one line, nothing local, no leftovers."""
    token = uuid.uuid4().hex[:12]
    victim = tmp_path / "runs" / "victim" / "export" / f"victim_{token}_int8.tflite"
    victim.parent.mkdir(parents=True)
    shutil.copy(models[1], victim)
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            for proc in Path("/proc").iterdir():
                if not proc.name.isdigit():
                    continue
                try:
                    args = (proc / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"edgenets" in args and b"bench" in args and any(token.encode() in a for a in args):
                    os.kill(int(proc.name), signal.SIGKILL)  # the board's bench, found by its unique file name
                    killed.append(int(proc.name))
                    return
            time.sleep(0.05)

    before = _work_dirs(board)
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    out = tmp_path / "out"
    result = run_cli("bench", str(victim), *_remote(sshd, "board", venv=_venv(board)), *TINY,
                     "--results-dir", str(out), "--output", str(out / "fleet.md"))
    thread.join(5)
    assert killed, "the board's bench process was never seen"
    assert_failed(result, "error: board: edgenets bench on the board was killed by SIGKILL")
    assert not out.exists()
    assert _work_dirs(board) == before


# ------------------------------------------------------------------ board setup, offline, into a fresh venv


@pytest.mark.board
@pytest.mark.slow
def test_board_setup_from_a_wheelhouse_then_bench_in_that_venv(run_cli, sshd, board, board_dir, models, x86_bench,
                                                                tmp_path):
    """`edgenets board setup` builds this checkout's wheel, pushes it with the board's wheelhouse (no internet),
    creates a venv with the board's python3 and installs; the venv then benches like the board's own."""
    venv = board_dir / "fresh-venv"
    wheelhouse = _wheelhouse(board)
    start = time.monotonic()
    result = run_cli("board", "setup", "board", "--ssh-config", str(sshd.config), "--remote-venv", str(venv),
                     "--remote-python", str(_wrapper(board)), "--wheelhouse", str(wheelhouse))
    seconds = time.monotonic() - start
    assert result.code == 0, result.err
    assert result.out.startswith(f"board: ready: edgenets {__version__} in {venv} (Python 3.11") and "aarch64, litert" in result.out
    assert "from the pushed wheelhouse" in result.err
    print(f"board setup into a fresh venv on the emulated arm64 board: {seconds:.0f} s")
    # `bench --setup` in one command: the same venv, edgenets replaced in place (same version, maybe other code,
    # dependencies kept), then the bench in it
    bench = run_cli("bench", *map(str, models), *_remote(sshd, "board", venv=venv), *TINY, "--results-dir", str(tmp_path / "r"),
                    "--setup", "--remote-python", str(_wrapper(board)), "--wheelhouse", str(wheelhouse))
    assert bench.code == 0, bench.err
    assert "replacing the installed edgenets" in bench.err and "already installed with the same version" not in bench.err
    assert f"board: ready: edgenets {__version__} in {venv}" in bench.err
    _assert_metrics_equal(json.loads((tmp_path / "r" / "board.json").read_text()), x86_bench)


@pytest.mark.board
@pytest.mark.slow
def test_board_setup_that_fails_leaves_no_half_made_venv(run_cli, sshd, board, board_dir, tmp_path):
    partial = tmp_path / "partial-wheelhouse"
    partial.mkdir()
    for w in _wheelhouse(board).glob("*.whl"):
        if not w.name.startswith("numpy-"):
            shutil.copy(w, partial / w.name)
    venv = board_dir / "venv"
    result = run_cli("board", "setup", "board", "--ssh-config", str(sshd.config), "--remote-venv", str(venv),
                     "--remote-python", str(_wrapper(board)), "--wheelhouse", str(partial))
    assert_failed(result, "error: board: pip install failed on the board: ", "numpy")
    assert not venv.exists()  # created by this setup, removed when it failed


@pytest.mark.board
@pytest.mark.slow
def test_a_full_disk_on_the_board_is_one_line_and_leaves_nothing(run_cli, sshd, board, models, tmp_path):
    """The board's temporary folder on a 16 KiB tmpfs (as root: mount; TMPDIR sent with ssh's SetEnv)."""
    if not IS_ROOT:
        pytest.skip("mounting a tiny tmpfs needs root")
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k,mode=1777", "tmpfs", str(sshd.full_disk)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        result = run_cli("bench", *map(str, models), *_remote(sshd, "full", venv=_venv(board)), *TINY,
                         "--results-dir", str(tmp_path / "r"))
        assert_failed(result, "error: full: no space left on the board's disk (writing "
                               f"{sshd.full_disk}/edgenets-bench-", "the upload needs")
        assert list(sshd.full_disk.iterdir()) == []  # the partial upload is gone
        assert not (tmp_path / "r").exists()
    finally:
        subprocess.run(["umount", str(sshd.full_disk)], check=False)


@pytest.mark.board
@pytest.mark.slow
def test_an_interrupted_remote_bench_writes_nothing_and_the_board_cleans_up(sshd, board, models, tmp_path):
    """SIGTERM (or Ctrl-C) on the desktop mid-bench: exit 130, no files here; the board's side notices the closed
    connection at its next line of output, stops its bench and removes its temporary folder."""
    import sys

    token = uuid.uuid4().hex[:12]
    model = tmp_path / "runs" / "stop" / "export" / f"stop_{token}_int8.tflite"
    model.parent.mkdir(parents=True)
    shutil.copy(models[1], model)
    before = _work_dirs(board)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "edgenets", "bench", str(model), *_remote(sshd, "board", venv=_venv(board)),
                             *TINY[:-6], "--min-seconds", "20", "--rounds", "4", "--limit", str(LIMIT),
                             "--output", str(out / "fleet.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "timing 1 row(s)" in line:  # the board is in its 20 s of timing
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, "".join(seen) + rest
    assert rest.strip().splitlines()[-1] == "error: interrupted"
    assert not out.exists()

    def board_processes() -> list[str]:
        found = []
        for p in Path("/proc").iterdir():
            try:
                if p.name.isdigit() and token.encode() in (p / "cmdline").read_bytes():
                    found.append(p.name)
            except OSError:
                pass
        return found

    deadline = time.monotonic() + 120  # the board's bench prints its next line within one 5 s round
    while (board_processes() or _work_dirs(board) != before) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert board_processes() == [] and _work_dirs(board) == before


@pytest.mark.board
@pytest.mark.slow
def test_a_sweep_measures_its_candidates_on_the_board(sshd, board, models, x86_bench, tmp_path):
    """`edgenets sweep --remote`: the candidates' one bench run happens on the board (edgenets.sweep.run.measure),
    labelled emulated, with the accuracy x86 measures; the sweep's candidates read the board's numbers."""
    from edgenets.sweep.front import Budget
    from edgenets.sweep.run import BenchSettings, SweepPlan, candidates, measure
    from edgenets.sweep.space import space_from_options
    from edgenets.sweep.tuning import Outcome

    space = space_from_options("mobilenet", dataset="mnist")
    bench = BenchSettings(runs=5, warmup=1, min_seconds=0, rounds=1, limit=LIMIT, remote="board",
                          remote_venv=str(_venv(board)), ssh_config=str(sshd.config))
    plan = SweepPlan(space, Budget(), tmp_path, None, bench, trials=space.trials())
    lines = []
    doc = measure(plan, models, lines.append)
    env = doc["environment"]
    assert env["machine"] == "aarch64" and env["emulated"] and env["remote"]["host"] == "board"
    _assert_metrics_equal(doc, x86_bench)
    assert json.loads((tmp_path / "bench.json").read_text())["sweep_bench"]["remote"] == "board"
    assert any("on board board over SSH" in line for line in lines)
    # a trial whose exports are these files gets the board's accuracy and latency
    trial = plan.trials[0]
    export = tmp_path / "trials" / trial.name / "export"
    export.mkdir(parents=True)
    for path, precision in zip(models, ("float32", "int8")):
        shutil.copy(path, export / f"model_{precision}.tflite")
    doc["results"] = [{**r, "path": str(export / Path(r["path"]).name)} for r in doc["results"]]
    cands = candidates(plan, {trial.id: Outcome("done")}, doc)
    by_precision = {r["precision"]: r for r in doc["results"]}
    for c in cands:
        assert c.ok and c.latency_us == by_precision[c.precision]["latency"]["p50_us"]
