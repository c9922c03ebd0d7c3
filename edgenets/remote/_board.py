"""Runs ON THE BOARD: the desktop sends this file's text as ``python -c CODE REQUEST`` over ssh.

edgenets never imports it. It needs nothing but the board's Python (3.7 or newer, standard library
only): the files arrive as a tar stream on stdin, progress goes to stderr line by line (the desktop
shows it as it comes), and the last line on stdout is the reply, ``EDGENETS-REMOTE-REPLY {json}``.

Two actions, one per ssh connection:

- ``bench`` (run by the venv's python): unpack the models, sidecars and evaluation images into a fresh
  temporary folder, run ``python -m edgenets bench`` there with the desktop's options, reply with the
  results document. The folder is removed whatever happens (the desktop has the originals).
- ``setup`` (run by the board's ``python3``): create the venv if it is missing (and remove it again if
  this setup fails), install the pushed edgenets wheel and its ``[device]`` dependencies (from PyPI, or
  ``--no-index`` from the pushed wheelhouse), then import edgenets and its TFLite runtime in the venv
  and reply with their versions.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile

REPLY = "EDGENETS-REMOTE-REPLY "


class Failure(Exception):
    """One line for the desktop; ``kind`` lets it add a hint (run board setup, free some space)."""

    def __init__(self, message, kind="failed"):
        Exception.__init__(self, message)
        self.kind = kind


def reply(**fields):
    sys.stdout.write("\n" + REPLY + json.dumps(fields) + "\n")
    sys.stdout.flush()


def say(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _stop(signum, frame):  # noqa: ARG001 - a hang-up or kill unwinds through the finally blocks (cleanup)
    raise SystemExit(128 + signum)


def unpack(dest):
    """The tar stream on stdin into ``dest``: regular files and folders only, no absolute or '..' names."""
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.name or member.name.startswith("/") or ".." in parts:
                raise Failure("refusing unsafe path in the upload: %r" % member.name)
            target = os.path.join(dest, *parts)
            if member.isdir():
                os.makedirs(target, exist_ok=True)
            elif member.isfile():
                os.makedirs(os.path.dirname(target), exist_ok=True)
                source = tar.extractfile(member)
                try:
                    with open(target, "wb") as f:
                        shutil.copyfileobj(source, f, 1 << 20)
                except OSError as exc:  # a write's error names no file: name it
                    if exc.filename is None:
                        exc.filename = target
                    raise
            else:
                raise Failure("refusing %s in the upload (only files and folders)" % member.name)


def stream(cmd, cwd=None, stdout=True, hide=()):
    """Run ``cmd``, forwarding its output to stderr line by line (but lines containing ``hide``);
    returns (exit code, its last error line)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
                            stderr=subprocess.STDOUT if stdout else subprocess.PIPE)
    last_error = None
    try:
        for raw in proc.stdout if stdout else proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line.startswith(("error: ", "ERROR: ")):
                last_error = line.split(": ", 1)[1]
            if not any(text in line for text in hide):
                say(line)
        return proc.wait(), last_error
    finally:
        if proc.poll() is None:  # the desktop went away (broken pipe) or we were stopped
            proc.kill()
            proc.wait()


def describe(exc):
    """An OSError in one line, naming the file; a full disk says so plainly."""
    import errno

    where = exc.filename or ""
    if exc.errno == errno.ENOSPC:
        raise Failure("no space left on the board's disk (writing %s)" % where, "no-space")
    return "%s: %s" % (where, exc.strerror or exc) if where else str(exc)


def killed_by(rc):
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return "signal %d" % -rc


# ------------------------------------------------------------------ bench


def bench(request):
    import importlib.util

    if importlib.util.find_spec("edgenets") is None:
        raise Failure("no edgenets in the venv %s" % sys.prefix, "no-edgenets")
    work = tempfile.mkdtemp(prefix="edgenets-bench-")
    try:
        unpack(work)
        cmd = [sys.executable, "-m", "edgenets", "bench"] + request["models"] + request["options"] \
            + ["--output", "results.json"]
        rc, last_error = stream(cmd, cwd=work, stdout=False)
        results = None
        path = os.path.join(work, "results.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                results = f.read()
        if rc < 0:
            raise Failure("edgenets bench on the board was killed by %s" % killed_by(rc), "crashed")
        if results is None:
            raise Failure(last_error or "edgenets bench on the board exited with code %d and wrote no results" % rc)
        reply(ok=True, rc=rc, error=last_error, results=results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ setup

VERIFY = r"""
import json, platform, sys
import edgenets
out = {"version": edgenets.__version__, "python": platform.python_version(), "machine": platform.machine(),
       "prefix": sys.prefix}
try:
    from edgenets.bench.runtime import resolve_runtime
    out["runtime"] = resolve_runtime("auto").describe()
except Exception as exc:
    out["runtime_error"] = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
print("EDGENETS-VERIFY " + json.dumps(out))
"""


def setup(request):
    import glob

    venv = os.path.abspath(os.path.expanduser(request["venv"]))
    python = os.path.join(venv, "bin", "python")
    created = False
    work = tempfile.mkdtemp(prefix="edgenets-setup-")
    ok = False
    try:
        unpack(work)
        if not os.path.exists(python):
            if os.path.isdir(venv) and os.listdir(venv):
                raise Failure("%s exists but is not a venv (no bin/python); remove it or choose another --remote-venv" % venv)
            import importlib.util

            if importlib.util.find_spec("ensurepip") is None:
                raise Failure("%s cannot create a venv (no ensurepip): sudo apt install python3-venv" % sys.executable,
                              "no-venv-module")
            import venv as venv_module

            say("creating the venv %s%s" % (venv, " (with system site-packages)" if request["system_site_packages"] else ""))
            created = "emptied" if os.path.isdir(venv) else "removed"  # what to undo if this setup fails
            try:
                venv_module.EnvBuilder(with_pip=True, symlinks=True,
                                       system_site_packages=request["system_site_packages"]).create(venv)
            except subprocess.CalledProcessError as exc:  # ensurepip failed: its output holds pip's reason
                output = exc.output.decode("utf-8", "replace") if isinstance(exc.output, bytes) else (exc.output or "")
                reasons = [line.strip() for line in output.splitlines() if line.strip() and "rror" in line
                           and not line.startswith((" ", "Traceback", "subprocess.CalledProcessError"))]
                raise Failure("creating the venv %s failed: %s" % (venv, reasons[-1] if reasons else
                                                                   "ensurepip exited with code %d" % exc.returncode))
        elif request["system_site_packages"]:
            say("note: %s exists; --system-site-packages only applies when a venv is created" % venv)
        wheel = os.path.join(work, request["wheel"])
        pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
        if request["offline"]:
            pip += ["--no-index", "--find-links", os.path.join(work, "wheelhouse")]
        if glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "edgenets-*.dist-info")):
            # the same version number may hold other code: replace edgenets itself, leave its dependencies be
            say("replacing the installed edgenets with %s" % request["wheel"])
            rc, last_error = stream(pip + ["--force-reinstall", "--no-deps", wheel])
            if rc != 0:
                raise Failure("pip could not install %s: %s" % (request["wheel"], last_error or "exit code %d" % rc))
        target = wheel + ("[%s]" % request["extra"] if request["extra"] else "")
        say("installing %s%s" % (os.path.basename(target), " from the pushed wheelhouse" if request["offline"] else ""))
        # (after a forced reinstall pip notes that edgenets is already there: it is, we just put it there)
        rc, last_error = stream(pip + [target], hide=("is already installed with the same version",))
        if rc != 0:
            raise Failure("pip install failed on the board: %s" % (last_error or "exit code %d" % rc), "pip")
        proc = subprocess.run([python, "-c", VERIFY], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        text = proc.stdout.decode("utf-8", "replace")
        found = [line for line in text.splitlines() if line.startswith("EDGENETS-VERIFY ")]
        if proc.returncode != 0 or not found:
            lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise Failure("edgenets does not import in the venv: %s" % (lines[-1] if lines else "exit code %d" % proc.returncode))
        facts = json.loads(found[-1][len("EDGENETS-VERIFY "):])
        if facts.get("version") != request["version"]:
            raise Failure("the venv has edgenets %s after installing %s" % (facts.get("version"), request["version"]))
        if "runtime_error" in facts:
            raise Failure("edgenets installed, but no TFLite runtime works: %s" % facts["runtime_error"], "runtime")
        ok = True
        reply(ok=True, **facts)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if created and not ok:  # nothing half-made: the next setup starts from scratch
            if created == "removed":
                shutil.rmtree(venv, ignore_errors=True)
            else:  # the (empty) folder was there before: keep it, empty
                for name in os.listdir(venv):
                    path = os.path.join(venv, name)
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        os.unlink(path)


def main():
    request = json.loads(sys.argv[1])
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop)
    try:
        {"bench": bench, "setup": setup}[request["action"]](request)
    except Failure as exc:
        reply(ok=False, error=str(exc), kind=exc.kind)
    except OSError as exc:
        try:
            reply(ok=False, error=describe(exc), kind="os")
        except Failure as failure:
            reply(ok=False, error=str(failure), kind=failure.kind)
    except tarfile.TarError as exc:
        reply(ok=False, error="the upload arrived damaged (%s)" % exc, kind="upload")


if __name__ == "__main__":
    main()
