"""One sweep trial without Ray (edgenets.sweep.trial.run_trial, what a Ray worker calls): it trains and exports,
reports every epoch but the last before the exports exist, skips finished work when run again, and a
trial the scheduler stops (SystemExit from report, as Ray Tune does) keeps its epochs and is not exported."""

from __future__ import annotations

import json

import pytest
from sweeps import write_subset

from edgenets.sweep.space import space_from_options
from edgenets.sweep.trial import STOPPED, log_path, run_dir, run_trial


@pytest.fixture(scope="module")
def data(tmp_path_factory, mnist):
    return write_subset(mnist, tmp_path_factory.mktemp("data") / "mnist-subset.npz")


def _trial(data, epochs):
    return space_from_options("mobilenet", alpha="0.25", epochs=str(epochs), dataset=str(data)).trials()[0]


def test_a_trial_reports_epochs_exports_and_skips_what_is_done_when_run_again(tmp_path, data):
    trial = _trial(data, 2)
    reports = []
    final = run_trial(trial, tmp_path, report=reports.append)
    directory = run_dir(tmp_path, trial)
    assert [r["stage"] for r in reports] == ["training", "done"] and reports[0]["epoch"] == 1
    assert reports[-1] == final and final["epoch"] == 2
    history = (directory / "history.csv").read_text().splitlines()
    assert float(history[1].split(",")[4]) == pytest.approx(reports[0]["val_accuracy"])  # epoch 1's val_accuracy
    for precision in ("float32", "int8"):
        assert (directory / "export" / f"model_{precision}.tflite").is_file()
    stamps = {p: p.stat().st_mtime_ns for p in directory.rglob("*") if p.is_file()}

    again = []
    assert run_trial(trial, tmp_path, report=again.append) == final
    assert [r["stage"] for r in again] == ["done"]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing trained or exported again
    log = log_path(tmp_path, trial).read_text()
    assert "already trained (2 epochs): not retrained" in log and "already exported" in log


def test_a_stopped_trial_keeps_its_epochs_and_a_restart_continues_them(tmp_path, data):
    trial = _trial(data, 2)

    def stop(metrics):  # Ray Tune's report, when the scheduler stops the trial
        raise SystemExit(0)

    with pytest.raises(SystemExit):
        run_trial(trial, tmp_path, report=stop)
    directory = run_dir(tmp_path, trial)
    assert json.loads((directory / STOPPED).read_text())["epoch"] == 1
    assert not (directory / "export").exists()
    first_epoch = (directory / "history.csv").read_text().splitlines()[1]

    reports = []
    run_trial(trial, tmp_path, report=reports.append)  # an interrupted trial restarted by --resume
    assert [r["stage"] for r in reports] == ["done"]  # epoch 1 was not trained (or reported) again
    rows = (directory / "history.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1] == first_epoch
    assert "continuing from epoch 1" in log_path(tmp_path, trial).read_text()
