"""`edgenets board setup HOST...`: a venv with this edgenets on boards reached over SSH."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgenets.remote import DEFAULT_VENV


def register(app: typer.Typer) -> None:
    board_app = typer.Typer(help="Prepare boards reached over SSH for `edgenets bench --remote`.", no_args_is_help=True)
    board_app.command("setup")(setup)
    app.add_typer(board_app, name="board")


def setup(
    hosts: Annotated[list[str], typer.Argument(help="HOST, USER@HOST or USER@HOST:PORT (an ~/.ssh/config alias works); "
                                                    "several are set up in parallel.", show_default=False)],
    remote_venv: Annotated[str, typer.Option(help="The venv to create or update on the board.")] = DEFAULT_VENV,
    wheel: Annotated[Optional[Path], typer.Option(help="Install this edgenets wheel (default: build one from the source "
                                                       "checkout this edgenets runs from).")] = None,
    wheelhouse: Annotated[Optional[Path], typer.Option(help="A folder of dependency wheels for the board, pushed along "
                                                            "and installed with --no-index (boards without internet).")] = None,
    system_site_packages: Annotated[bool, typer.Option("--system-site-packages", help="Let the venv see Debian's "
                                                       "packages (32-bit Pi OS: numpy from python3-numpy).")] = False,
    remote_python: Annotated[str, typer.Option(help="The board's Python that creates the venv.")] = "python3",
    ssh_config: Annotated[Optional[Path], typer.Option(help="An ssh_config file for these hosts (ssh -F).")] = None,
) -> None:
    """Create the venv on each board (python3 -m venv) and install THIS edgenets version with its [device]
    dependencies, over one SSH connection per board (system ssh, BatchMode: keys and agent only).

    Exit code 1 if any board failed (each failure is one line naming the host).
    """
    from edgenets.errors import EdgenetsError
    from edgenets.remote import ssh
    from edgenets.remote.fleet import for_each_host
    from edgenets.errors import first_line
    from edgenets.remote.setup import SetupResult, setup_host, setup_request

    parsed = ssh.parse_hosts(hosts, what="HOST")
    ssh.check_ssh_config(ssh_config)
    ssh.ssh_executable()

    def log(line: str) -> None:
        typer.echo(line, err=True)

    with setup_request(wheel, wheelhouse, system_site_packages=system_site_packages, python=remote_python, log=log) as req:
        def one(host):
            try:
                return setup_host(host, req, venv=remote_venv, ssh_config=ssh_config, log=log)
            except Exception as exc:  # noqa: BLE001 - a bug shows on its host; the other boards still report
                return SetupResult(host, error=f"unexpected {type(exc).__name__}: {first_line(exc)}")

        results = for_each_host(parsed, one)
    failed = [r for r in results if r.error]
    for r in results:
        if not r.error:
            typer.echo(r.summary(remote_venv))
    if len(parsed) == 1 and failed:
        raise EdgenetsError(f"{failed[0].host.spec}: {failed[0].error}")
    for r in failed:
        typer.secho(f"{r.host.spec}: FAILED: {r.error}", fg=typer.colors.RED, err=True)
    if failed:
        raise EdgenetsError(f"{len(failed)} of {len(results)} boards failed: {', '.join(r.host.spec for r in failed)}")
