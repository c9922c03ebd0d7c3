"""Benchmarking real boards over SSH: ``edgenets bench --remote HOST`` and ``edgenets board setup HOST``.

The desktop pushes the model files (with their sidecars) and the evaluation images, runs
``edgenets bench`` on the board inside a venv there, and brings the results document back; several
hosts run in parallel and come back as one ``edgenets compare`` table.

Why the system ``ssh`` client (a subprocess) and not asyncssh or paramiko:

- The user's own SSH setup applies unchanged: ``~/.ssh/config`` (host aliases, ``User``, ``Port``,
  ``IdentityFile``, ``ProxyJump``), the agent, hardware keys, ``known_hosts`` and certificates. A Python
  SSH library reads only part of that (paramiko has no ProxyJump, asyncssh's config support is partial)
  and keeps its own host-key policy; a board that works with ``ssh pi5`` works here.
- Host-key checking stays exactly as strict as the user's ``ssh``: edgenets never disables it, never
  stores a key and never asks for a password (``BatchMode=yes``); a changed or unknown host key is a
  failed host with ssh's own reason.
- No new dependency on the desktop or on the board (OpenSSH is on every Linux and macOS desktop and on
  Windows 10+); the board needs nothing but its Python: files travel as a tar stream on ssh's stdin,
  unpacked by the board's Python, and the results come back on its stdout.

Costs of that choice: one ssh process (one handshake) per host per step, so each step is built to need
exactly one: ``bench --remote`` is one connection per host, ``board setup`` another.

Modules: :mod:`~edgenets.remote.ssh` (hosts, the ssh command, its errors), :mod:`~edgenets.remote.fleet`
(bench on many hosts, output files), :mod:`~edgenets.remote.setup` (the venv and the wheel). The script
``_board.py`` runs ON THE BOARD (its source sent as ``python -c``, standard library only).
"""

from __future__ import annotations

DEFAULT_VENV = "~/edgenets-venv"

__all__ = ["DEFAULT_VENV"]
