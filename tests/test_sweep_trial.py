"""One sweep trial without Ray (edgenets.sweep.trial.run_trial, what a Ray worker calls). A trial the scheduler
stops (SystemExit from report, as Ray Tune raises it) keeps its epochs and is not exported; restarted, it
continues from its last epoch, reports every epoch but the last before the exports exist, and exports; run
again, it trains and exports nothing."""

from __future__ import annotations

import json

import pytest
from sweeps import write_subset

from edgenets.sweep.space import space_from_options
from edgenets.sweep.trial import STOPPED, log_path, run_dir, run_trial


@pytest.fixture(scope="module")
def data(tmp_path_factory, mnist):
    return write_subset(mnist, tmp_path_factory.mktemp("data") / "mnist-subset.npz")


def test_a_trial_stops_continues_exports_and_skips_what_is_done(tmp_path, data):
    trial = space_from_options("mobilenet", alpha="0.25", epochs="3", dataset=str(data)).trials()[0]
    directory = run_dir(tmp_path, trial)

    def stop(metrics):  # Ray Tune's report when the scheduler (ASHA) stops the trial
        raise SystemExit(0)

    with pytest.raises(SystemExit):
        run_trial(trial, tmp_path, report=stop)
    assert json.loads((directory / STOPPED).read_text())["epoch"] == 1
    assert not (directory / "export").exists()
    first_epoch = (directory / "history.csv").read_text().splitlines()[1]

    reports = []  # restarted (an interrupted trial on --resume): epochs 2 and 3, then the exports
    final = run_trial(trial, tmp_path, report=reports.append)
    # every epoch but the last is reported while training; the last only once the exports exist, so a
    # scheduler that stops a trial at its final epoch (ASHA at max_t) cannot leave it unexported
    assert [(r["stage"], r["epoch"]) for r in reports] == [("training", 2), ("done", 3)] and final == reports[-1]
    rows = (directory / "history.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[1] == first_epoch  # epoch 1 was not trained again
    assert float(rows[2].split(",")[4]) == pytest.approx(reports[0]["val_accuracy"])  # epoch 2's val_accuracy
    assert "continuing from epoch 1" in log_path(tmp_path, trial).read_text()
    for precision in ("float32", "int8"):
        assert (directory / "export" / f"model_{precision}.tflite").is_file()
    stamps = {p: p.stat().st_mtime_ns for p in directory.rglob("*") if p.is_file()}

    again = []
    assert run_trial(trial, tmp_path, report=again.append) == final
    assert [r["stage"] for r in again] == ["done"]
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # nothing trained or exported again
    log = log_path(tmp_path, trial).read_text()
    assert "already trained (3 epochs): not retrained" in log and "already exported" in log

