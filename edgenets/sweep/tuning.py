"""The sweep's trainings on Ray Tune: a local Ray on loopback by default, or an existing cluster.

Only this module imports Ray (the ``edgenets[sweep]`` extra). What it decides:

* **Where.** No address: ``ray.init`` starts a Ray instance on this machine whose every listener is on
  127.0.0.1 (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` keeps Ray from swapping loopback for the machine's
  external address; no dashboard). ``--address auto`` joins the cluster ``ray start`` left on this
  machine; ``HOST:PORT`` a cluster's head (its GCS port); ``ray://HOST:PORT`` goes through Ray Client.
  An address is checked with a 3-second TCP connect first: Ray itself retries an unreachable one for
  minutes.
* **Usage statistics.** Ray reports usage to its developers unless told not to; edgenets tells it not to
  (``RAY_USAGE_STATS_ENABLED=0``) unless the user set the variable. A cluster started with ``ray start``
  keeps its own setting (``ray start --disable-usage-stats``).
* **Resources.** Each trial declares ``cpus_per_trial`` CPUs and TensorFlow in it uses that many threads,
  so Ray runs as many trials at once as the CPUs allow (``max_concurrent`` can lower it).
* **Early stopping.** ``scheduler="asha"``: ASHA on validation accuracy per epoch; a stopped trial keeps
  its epochs and is reported as stopped, not exported.
* **Resume.** ``Tuner.restore(..., restart_errored=True)`` on the experiment in ``SWEEP/tune``: finished
  trials are not run again, interrupted and errored ones are (and pick up their own checkpoints,
  :mod:`edgenets.sweep.trial`).
* **Quiet.** Ray's console output and its log of trial tracebacks are off (``EDGENETS_DEBUG=1`` shows
  them); progress comes from :class:`Progress`, one line per event; each trial logs to
  ``SWEEP/trials/NAME.log``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from edgenets.errors import EdgenetsError, InputError, MissingDependencyError, first_line
from edgenets.sweep.space import Trial

Log = Callable[[str], None]
EXPERIMENT = "tune"  # SWEEP/tune: Ray Tune's experiment folder
SCHEDULERS = ("none", "asha")
CONNECT_TIMEOUT_S = 3.0


@dataclass
class Outcome:
    """What Ray Tune says about one trial."""

    status: str  # "done", "stopped", "failed" or "not run"
    error: Optional[str] = None
    last: dict = field(default_factory=dict)  # the last reported metrics
    node: Optional[str] = None  # the Ray node id that ran it


@dataclass
class TuneRun:
    outcomes: dict[str, Outcome]  # by trial id
    interrupted: bool
    seconds: float
    cluster: dict = field(default_factory=dict)  # what connect() found: nodes, CPUs, address, Ray version


# ------------------------------------------------------------------ connecting

def is_loopback(address: Optional[str]) -> bool:
    if address is None:
        return True
    host = address.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(address: Optional[str]) -> Optional[tuple[str, int]]:
    """(host, port) to check for ``HOST:PORT`` and ``ray://HOST:PORT``; None for no address and ``auto``."""
    if address is None or address == "auto":
        return None
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in rest:
        raise InputError(f"--address must be auto, HOST:PORT or ray://HOST:PORT. Received: {address!r}")
    return host.strip("[]"), int(port)


def check_reachable(address: Optional[str]) -> None:
    """A TCP connect to the address's port, so an unreachable cluster is one line in seconds."""
    target = parse_address(address)
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, socket.timeout):
            reason = f"no answer in {CONNECT_TIMEOUT_S:g} s"
        raise InputError(f"--address {address}: cannot reach a Ray cluster there ({reason}); start one with "
                         f"`ray start --head` (docs/sweep.md)") from None


def import_ray(address: Optional[str] = None) -> Any:
    """Ray, set up for a sweep on ``address`` (the environment variables must be set before Ray is imported)."""
    if is_loopback(address):
        # Ray reads this constant at import: loopback then stays loopback (all listeners on 127.0.0.1), where it
        # would otherwise swap 127.0.0.1 for the machine's external address and listen on every interface
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the plain reporter, which verbose=0 silences
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no CSV/TensorBoard loggers per trial
    try:
        import ray
        from ray import tune  # noqa: F401  (ray without the [tune] extra has no tune dependencies)
    except ImportError as exc:
        raise MissingDependencyError(f"edgenets sweep needs Ray Tune: pip install \"edgenets[sweep]\" ({first_line(exc)})") from None
    return ray


def connect(address: Optional[str], *, num_cpus: Optional[int] = None) -> dict:
    """Start (no address) or join (``address``) Ray; returns what the cluster is."""
    from edgenets._quiet import debug_enabled

    check_reachable(address)
    ray = import_ray(address)
    level = logging.INFO if debug_enabled() else logging.ERROR
    try:
        if address is None:
            # address="local": a new instance here, even when RAY_ADDRESS names a cluster
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                     log_to_driver=debug_enabled(),
                     logging_level=level, configure_logging=True)
        else:
            ray.init(address=address, log_to_driver=debug_enabled(), logging_level=level, configure_logging=True)
    except ConnectionError as exc:
        where = "auto (this machine)" if address == "auto" else address
        raise InputError(f"--address {where}: {first_line(exc)}") from None
    _silence_ray_loggers()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus = [int(n.get("Resources", {}).get("CPU", 0)) for n in nodes]
    return {"address": address or "local", "nodes": len(nodes), "cpus": sum(cpus), "max_node_cpus": max(cpus, default=0),
            "node_ips": sorted({n.get("NodeManagerAddress") for n in nodes}), "ray_version": ray.__version__}


def _silence_ray_loggers() -> None:
    """Ray Tune logs every trial's traceback at ERROR; the sweep reports failures itself, in one line."""
    from edgenets._quiet import debug_enabled

    if not debug_enabled():
        for name in ("ray", "ray.tune", "ray.train", "ray.air"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def disconnect() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


# ------------------------------------------------------------------ the trainable

def _trainable(config: dict, *, sweep_dir: str, cpus: int) -> None:
    """Runs in a Ray worker: one trial (edgenets.sweep.trial), its epochs reported to Tune."""
    import ray
    from ray import tune

    from edgenets._quiet import configure
    from edgenets.sweep.trial import run_trial

    configure()
    node = ray.get_runtime_context().get_node_id()  # which node trained it (on loopback every node is 127.0.0.1)
    run_trial(Trial.from_dict(config["trial"]), Path(sweep_dir), cpus=cpus,
              report=lambda metrics: tune.report({**metrics, "node_id": node}))


def _make_trainable(sweep_dir: Path, cpus_per_trial: int):
    from ray import tune

    fn = tune.with_parameters(_trainable, sweep_dir=str(sweep_dir), cpus=int(cpus_per_trial))
    return tune.with_resources(fn, {"cpu": cpus_per_trial})


def _callback(trials: Sequence[Trial], log: Log):
    from ray.tune import Callback

    order = {t.id: i + 1 for i, t in enumerate(trials)}
    total = len(trials)

    def name(trial) -> str:
        cfg = trial.config.get("trial", {})
        return f"[{order.get(cfg.get('id'), '?')}/{total}] {cfg.get('name', trial.trial_id)}"

    class Progress(Callback):
        """One line per trial start, epoch, finish and failure."""

        def on_trial_start(self, iteration, trials, trial, **info):
            log(f"{name(trial)}: started")

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if result.get("stage") == "training":
                log(f"{name(trial)}: epoch {result.get('epoch')} val accuracy {result.get('val_accuracy', 0):.4f}")
            elif result.get("stage") == "done":
                test = result.get("test_accuracy")
                log(f"{name(trial)}: trained and exported (val accuracy {result.get('val_accuracy', 0):.4f}"
                    + (f", Keras test accuracy {test:.4f})" if test is not None else ")"))

        def on_trial_error(self, iteration, trials, trial, **info):
            log(f"{name(trial)}: FAILED (see {trial.config.get('trial', {}).get('name')}.log)")

    return Progress()


def _scheduler(kind: str, max_epochs: int):
    if kind == "none":
        return None
    from ray.tune.schedulers import ASHAScheduler

    # time is the epoch the trial reported (a resumed training's count goes on from its checkpoint)
    return ASHAScheduler(time_attr="epoch", metric="val_accuracy", mode="max", max_t=max(1, max_epochs),
                         grace_period=1, reduction_factor=2)


def _cause(error: Any) -> str:
    """One line for a trial's exception: the original exception, not Ray's wrapper and traceback."""
    cause = getattr(error, "cause", None) or error
    if isinstance(cause, EdgenetsError):
        return first_line(cause)
    return f"{type(cause).__name__}: {first_line(cause)}"


def _outcomes(grid, trials: Sequence[Trial], *, scheduler: str, interrupted: bool) -> dict[str, Outcome]:
    """Each trial's outcome from Ray Tune's results. A trial that reported its exports is done; one with an
    error failed; with ASHA, a TERMINATED trial that ended between epochs was stopped by the scheduler --
    unless the sweep was interrupted, when it is unfinished like every trial not done ("not run")."""
    from edgenets.sweep.trial import epochs_of

    by_id = {t.id: t for t in trials}
    out: dict[str, Outcome] = {t.id: Outcome("not run") for t in trials}
    statuses = {}
    analysis = getattr(grid, "_experiment_analysis", None)
    for tr in getattr(analysis, "trials", None) or []:
        statuses[tr.config.get("trial", {}).get("id")] = tr.status
    for result in grid:
        trial_id = (result.config or {}).get("trial", {}).get("id")
        if trial_id not in by_id:
            continue
        last = dict(result.metrics or {})
        node = last.get("node_id")
        if result.error is not None and not interrupted:
            out[trial_id] = Outcome("failed", _cause(result.error), last, node)
        elif last.get("stage") == "done":
            out[trial_id] = Outcome("done", None, last, node)
        elif (scheduler == "asha" and not interrupted and statuses.get(trial_id) == "TERMINATED"
              and last.get("stage") == "training"):
            reason = (f"stopped early by ASHA after epoch {last.get('epoch')} of {epochs_of(by_id[trial_id])} "
                      f"(val accuracy {last.get('val_accuracy', float('nan')):.4f})")
            out[trial_id] = Outcome("stopped", reason, last, node)
        else:
            out[trial_id] = Outcome("not run", None, last, node)
    return out


class _Interruption:
    """Whether Ray Tune received a stop signal during fit. Tune replaces the SIGINT handler with its own and puts
    the previous one back when a signal arrives (ray/tune/tune.py, _setup_signal_catching): so if, after fit,
    SIGINT's handler is again the marker installed before, Tune was interrupted."""

    def __enter__(self):
        import signal

        def marker(signum, frame):  # pragma: no cover - only reached by a second Ctrl-C after Tune's
            raise KeyboardInterrupt

        self.marker = marker
        self.previous = signal.getsignal(signal.SIGINT)
        self.interrupted = False
        self.active = False
        if os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0") not in ("", "0"):
            return self  # Tune installs no handler: Ctrl-C is a KeyboardInterrupt, unfinished trials say the rest
        try:
            signal.signal(signal.SIGINT, marker)
            self.active = True
        except ValueError:  # not the main thread: Tune installs no handler either
            self.active = False
        return self

    def __exit__(self, *exc):
        import signal

        if self.active:
            self.interrupted = signal.getsignal(signal.SIGINT) is self.marker
            signal.signal(signal.SIGINT, self.previous)
        return False


def run_trials(trials: Sequence[Trial], sweep_dir: Path, *, cpus_per_trial: int = 1,
               max_concurrent: Optional[int] = None, scheduler: str = "none", resume: bool = False,
               log: Log = print) -> TuneRun:
    """Run (or, with ``resume``, restore and finish) the trials on the connected Ray; one Outcome each."""
    from ray import tune

    started = time.perf_counter()
    sweep_dir = Path(sweep_dir).resolve()
    trainable = _make_trainable(sweep_dir, cpus_per_trial)
    path = sweep_dir / EXPERIMENT
    if resume and tune.Tuner.can_restore(str(path)):
        tuner = tune.Tuner.restore(str(path), trainable=trainable, restart_errored=True)
    else:
        from edgenets.sweep.trial import epochs_of

        max_epochs = max(epochs_of(t) for t in trials)
        tuner = tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search([t.as_dict() for t in trials])},
            tune_config=tune.TuneConfig(scheduler=_scheduler(scheduler, max_epochs), num_samples=1,
                                        max_concurrent_trials=max_concurrent,
                                        trial_dirname_creator=lambda tr: tr.config["trial"]["name"],
                                        trial_name_creator=lambda tr: tr.config["trial"]["name"]),
            run_config=tune.RunConfig(name=EXPERIMENT, storage_path=str(sweep_dir), verbose=0,
                                      callbacks=[_callback(trials, log)],
                                      failure_config=tune.FailureConfig(max_failures=0)),
        )
    if resume:  # a restored Tuner keeps its old callbacks' configuration; ours are re-attached
        _attach_callback(tuner, _callback(trials, log))
    with _Interruption() as stop:
        grid = tuner.fit()
    outcomes = _outcomes(grid, trials, scheduler=scheduler, interrupted=stop.interrupted)
    interrupted = stop.interrupted or any(o.status == "not run" for o in outcomes.values())
    return TuneRun(outcomes, interrupted, time.perf_counter() - started)


def _attach_callback(tuner: Any, callback: Any) -> None:
    """Tuner.restore takes no callbacks (it reads the saved RunConfig); put ours on the restored config."""
    internal = getattr(tuner, "_local_tuner", None)
    run_config = getattr(internal, "_run_config", None)
    if run_config is not None:
        others = [c for c in (run_config.callbacks or []) if type(c).__name__ != "Progress"]
        run_config.callbacks = [*others, callback]
