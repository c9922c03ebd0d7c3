"""The ``edgenets`` console script and ``python -m edgenets``.

Importing the CLI (typer, rich, numpy) takes a noticeable moment on a small board; a Ctrl-C or
SIGTERM that lands in it must end like one that lands later -- one line, exit 130 -- not as a
KeyboardInterrupt traceback from the middle of an import. This module imports only the
standard library before it has a handler in place.
"""

from __future__ import annotations

import signal
import sys


def _interrupted(signum=None, frame=None) -> None:  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def main() -> None:
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupted)  # cli.main installs the same handler for good
    try:
        from edgenets.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    cli_main()
