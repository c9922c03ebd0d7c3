"""The ``edgenets`` console script and ``python -m edgenets``.

Importing the CLI (typer, rich, numpy) takes a noticeable moment on a small board; a Ctrl-C or
SIGTERM that lands in it must end like one that lands later -- one line, exit 130 -- not as a
KeyboardInterrupt traceback from the middle of an import. This module imports only the
standard library before it has a handler in place.
"""

from __future__ import annotations

import signal
import sys
import threading


def _interrupted(signum=None, frame=None) -> None:  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def sigterm_as_interrupt() -> None:
    """SIGTERM (a scheduler, `kill`, a closed terminal) unwinds like Ctrl-C, so temp files are cleaned up.

    Signal handlers can only be set from the main thread; elsewhere (an embedding host) this is a no-op.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupted)


def main() -> None:
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        sigterm_as_interrupt()  # cli.main installs it again, for callers that enter there
    try:
        from edgenets.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    cli_main()
