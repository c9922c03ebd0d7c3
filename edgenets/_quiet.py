"""Keep third-party start-up noise off the command line; ``EDGENETS_DEBUG=1`` shows all of it.

Two libraries print lines a user can do nothing about:

* TensorFlow's C++ logging when it is imported: the oneDNN note, the CPU-feature guard, CUDA
  probing, and absl's "All log messages before absl::InitializeLog() is called ..." that heads
  them. :func:`configure` sets ``TF_CPP_MIN_LOG_LEVEL=2`` (INFO and WARNING out, ERROR in) unless
  the user set it. Only the messages go: ``TF_ENABLE_ONEDNN_OPTS`` is left alone, since turning
  oneDNN off changes TensorFlow's numerics.
* TFLite's ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.``, written straight to fd 2 by
  the C++ runtime (ai-edge-litert, tflite-runtime and tf.lite alike) during the first
  ``allocate_tensors()`` of a process that applies the default delegate. Neither Python package
  exposes the runtime's log severity (google-ai-edge/LiteRT#7420 asks for it), so
  :func:`quiet_interpreter_class` runs ``allocate_tensors()`` inside :func:`filtered_stderr`, which
  holds fd 2 in a temporary file and writes back every line that is not in :data:`NOISE`: the
  runtime's ERROR lines (a delegate that fails to prepare, say) still reach the terminal.

Standard library only: the device side (``edgenets bench`` on a board, no TensorFlow) uses it, and
``edgenets._entry`` may import it before anything heavy.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from typing import Any, Iterator, MutableMapping, Optional, Sequence

DEBUG_ENV = "EDGENETS_DEBUG"
# TensorFlow's C++ log threshold: 0 all, 1 no INFO, 2 no INFO/WARNING, 3 no ERROR either (too much).
TF_LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
QUIET_TF_LOG_LEVEL = "2"

# Whole lines known to be noise; anything else written to fd 2 inside filtered_stderr() is kept.
NOISE: tuple[re.Pattern[bytes], ...] = (
    re.compile(rb"INFO: Created TensorFlow Lite XNNPACK delegate for CPU\."),
    re.compile(rb"INFO: Initialized TensorFlow Lite runtime\."),
)


def debug_enabled(environ: Optional[MutableMapping[str, str]] = None) -> bool:
    """Is ``EDGENETS_DEBUG`` set to something other than empty, 0, false or no?"""
    env = os.environ if environ is None else environ
    return env.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def configure(environ: Optional[MutableMapping[str, str]] = None) -> None:
    """Set the environment the CLI runs TensorFlow in: quiet by default, everything with EDGENETS_DEBUG=1.

    Call before TensorFlow is imported (it reads the variable once, at import). A value the user set
    is kept. In debug mode the level is pinned to 0, so the library's own quiet default (set where
    TensorFlow is imported) does not hide anything either."""
    env = os.environ if environ is None else environ
    env.setdefault(TF_LOG_LEVEL_ENV, "0" if debug_enabled(env) else QUIET_TF_LOG_LEVEL)


def strip_noise(data: bytes, noise: Sequence[re.Pattern[bytes]] = NOISE) -> tuple[bytes, int]:
    """``data`` without its whole lines that match one of ``noise``; and how many lines were dropped."""
    kept, dropped = [], 0
    for line in data.splitlines(keepends=True):
        if any(p.fullmatch(line.rstrip(b"\r\n")) for p in noise):
            dropped += 1
        else:
            kept.append(line)
    return b"".join(kept), dropped


class Filtered:
    """What :func:`filtered_stderr` did: how many noise lines it dropped (None when it did not filter)."""

    dropped: Optional[int] = None


_filter_lock = threading.Lock()


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or replaced stream: nothing to flush
            pass


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


@contextlib.contextmanager
def filtered_stderr(noise: Sequence[re.Pattern[bytes]] = NOISE) -> Iterator[Filtered]:
    """Hold what is written to file descriptor 2 inside the block; then write it back without ``noise``.

    For a short native call that prints known noise (C/C++ code writes to fd 2 directly, past
    ``sys.stderr``). Everything else is re-emitted in order when the block ends, also when it raises.
    A no-op with ``EDGENETS_DEBUG=1``, without a real fd 2, or while another thread is filtering."""
    result = Filtered()
    if debug_enabled() or not _filter_lock.acquire(blocking=False):
        yield result
        return
    try:
        try:
            saved = os.dup(2)
        except OSError:  # no fd 2 (an embedding host): nothing to filter
            yield result
            return
        capture = tempfile.TemporaryFile()  # a file, not a pipe: a long message cannot block the writer
        try:
            _flush_python_streams()
            os.dup2(capture.fileno(), 2)
            try:
                yield result
            finally:
                _flush_python_streams()
                os.dup2(saved, 2)
                capture.seek(0)
                kept, result.dropped = strip_noise(capture.read(), noise)
                if kept:
                    _write_all(2, kept)
        finally:
            os.close(saved)
            capture.close()
    finally:
        _filter_lock.release()


_QUIET_CLASSES: dict[type, type] = {}
_NOISE_DONE: set[type] = set()  # interpreter classes whose once-per-process INFO line has been dropped


def quiet_interpreter_class(cls: type) -> type:
    """A subclass of a TFLite ``Interpreter`` class whose ``allocate_tensors()`` drops the runtime's INFO line.

    The runtime prints the line once per process, so calls after the one that printed it run
    unfiltered. Same constructor, same methods; ``isinstance`` checks against ``cls`` still hold."""
    quiet = _QUIET_CLASSES.get(cls)
    if quiet is not None:
        return quiet

    def allocate_tensors(self: Any, *args: Any, **kwargs: Any) -> Any:
        if cls in _NOISE_DONE:
            return cls.allocate_tensors(self, *args, **kwargs)
        with filtered_stderr() as filtered:
            out = cls.allocate_tensors(self, *args, **kwargs)
        if filtered.dropped:
            _NOISE_DONE.add(cls)
        return out

    quiet = type(cls.__name__, (cls,), {"allocate_tensors": allocate_tensors, "__doc__": cls.__doc__,
                                        "__module__": __name__, "__qualname__": cls.__qualname__})
    _QUIET_CLASSES[cls] = quiet
    return quiet
