"""Interruptions: Ctrl-C (a real SIGINT to the program) in every mode leaves an export in which
every engine has a final status; a hung engine is stopped by the stall watchdog and the other
one goes on."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engines import Comparison
from engines.fake_engine import HANG_RELEASE
from engines.run.state import FINAL_STATUSES
from engines.run.watchdog import SLOW_STAGE_FACTOR, stall_limit
from engines.settings import settings_for
from scenarios import find, load_builtins
from tui.cli import main

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "tui"]
FAKES = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}
LONG_RUN = ["--fake", "--scenario", "mlp", "--steps", "100000", "--fault", "pytorch=slow",
            "--fault", "tensorflow=slow", "--no-telemetry"]


def interrupted_run(args: list[str], after_s: float, signals: int = 1) -> tuple[int, str, str]:
    """Start the program, send it SIGINT `signals` times (50 ms apart) after `after_s`."""
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        time.sleep(after_s)
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, err


def final_statuses(path: Path) -> dict[str, str]:
    doc = json.loads(path.read_text())
    statuses = {n: e["status"] for n, e in doc["engines"].items()}
    assert set(statuses.values()) <= set(FINAL_STATUSES), statuses
    return statuses


MODES = {
    "headless": ["--no-tui"],
    "headless in-process": ["--no-tui", "--in-process"],
    "snapshot": ["--snapshot", "SVG"],
    "snapshot in-process": ["--snapshot", "SVG", "--in-process"],
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_ctrl_c_in_every_mode_exits_130_with_a_final_status_for_every_engine(mode, tmp_path):
    export = tmp_path / "r.json"
    extra = [str(tmp_path / "s.svg") if a == "SVG" else a for a in MODES[mode]]
    code, out, err = interrupted_run([*LONG_RUN, *extra, "--export", str(export)], after_s=4.0)
    assert code == 130, err
    assert "Traceback" not in err
    assert "interrupted" in out + err and f"written to {export}" in out + err
    assert set(final_statuses(export).values()) == {"cancelled"}


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["headless", "snapshot"])
def test_a_second_ctrl_c_while_stopping_still_leaves_a_whole_export(mode, tmp_path):
    export = tmp_path / "r.json"
    extra = [str(tmp_path / "s.svg") if a == "SVG" else a for a in MODES[mode]]
    code, out, err = interrupted_run([*LONG_RUN, *extra, "--export", str(export)], after_s=4.0,
                                     signals=2)
    # 130, or killed by the second SIGINT once everything was written and Python was exiting.
    assert code in (130, -signal.SIGINT), err
    assert "Traceback" not in err
    final_statuses(export)


@pytest.mark.slow
@pytest.mark.parametrize("after_s", [0.1, 0.2, 0.3, 0.9])
def test_ctrl_c_during_start_up_exits_130_without_a_traceback(after_s, tmp_path):
    # 0.1-0.3 s lands, on the reference machine, in the imports, the checks, asyncio's loop
    # being built and the first screens mounting: each once ended in a traceback or in death
    # by SIGINT (a KeyboardInterrupt inside a dataclass's exec marks it unhandled for good).
    code, out, err = interrupted_run([*LONG_RUN, "--snapshot", str(tmp_path / "s.svg"),
                                      "--export", str(tmp_path / "r.json")], after_s=after_s)
    assert code == 130, err
    assert "Traceback" not in err and "Error" not in err
    if (tmp_path / "r.json").exists():
        final_statuses(tmp_path / "r.json")


# -- the stall watchdog ---------------------------------------------------------------------

def _scenario():
    return find("regression", load_builtins())


@pytest.mark.slow
@pytest.mark.parametrize("schedule", ["alternate", "sequential", "parallel"])
def test_a_hung_engine_is_stopped_and_the_other_finishes(schedule):
    settings = settings_for(_scenario(), steps=40, threads=1, schedule=schedule,
                            faults={"tensorflow": "hang@5"})
    comp = Comparison(_scenario(), settings, FAKES, telemetry=False, stall_timeout=1.0)
    t0 = time.monotonic()
    comp.start()
    assert comp.wait(timeout=30), "the run never ended"
    assert time.monotonic() - t0 < 15
    tf, pt = comp.state.engines["tensorflow"], comp.state.engines["pytorch"]
    assert tf.status == "failed" and tf.error.startswith("no step for 1 s")
    assert "--stall-timeout 1" in tf.error
    assert pt.status == "done" and pt.steps_done >= 40


@pytest.mark.slow
def test_an_engine_is_given_longer_while_it_compiles():
    settings = settings_for(_scenario(), steps=40, threads=1, faults={"tensorflow": "hang@0"})
    comp = Comparison(_scenario(), settings, FAKES, telemetry=False, stall_timeout=0.3)
    t0 = time.monotonic()
    comp.start()
    assert comp.wait(timeout=30)
    took = time.monotonic() - t0
    tf = comp.state.engines["tensorflow"]
    assert tf.status == "failed" and "while compiling" in tf.error, tf.error
    assert took >= 0.3 * SLOW_STAGE_FACTOR  # not stopped after the ordinary 0.3 s
    assert comp.state.engines["pytorch"].status == "done"


def test_the_watchdog_is_generous_in_slow_stages_only():
    assert stall_limit("running", 120) == 120
    assert stall_limit("warm-up", 120) == 120
    for stage in ("importing", "building", "compiling"):
        assert stall_limit(stage, 120) == 120 * SLOW_STAGE_FACTOR


@pytest.mark.slow
def test_a_hung_engine_in_a_thread_is_given_up_and_its_status_stays_failed():
    settings = settings_for(_scenario(), steps=40, threads=1, isolation="thread",
                            faults={"tensorflow": "hang@5"})
    comp = Comparison(_scenario(), settings, FAKES, telemetry=False, stall_timeout=0.5)
    HANG_RELEASE.clear()
    try:
        comp.start()
        assert comp.wait(timeout=30), "waited for the hung thread"
        assert comp.state.engines["pytorch"].status == "done"
        assert comp.state.engines["tensorflow"].status == "failed"
    finally:
        HANG_RELEASE.set()  # the hung step returns: the engine must stop, not go on
    comp.workers["tensorflow"].join(timeout=5)
    assert not comp.workers["tensorflow"].is_alive()
    tf = comp.state.engines["tensorflow"]
    assert tf.status == "failed" and tf.error.startswith("no step for 0.5 s")
    HANG_RELEASE.clear()


@pytest.mark.slow
def test_the_watchdog_from_the_command_line(tmp_path, capsys):
    export = tmp_path / "r.json"
    code = main(["--no-tui", "--fake", "--scenario", "regression", "--steps", "30",
                 "--no-telemetry", "--no-save", "--fault", "tensorflow=hang@4",
                 "--stall-timeout", "1", "--export", str(export)])
    assert code == 1
    doc = json.loads(export.read_text())
    assert doc["engines"]["pytorch"]["status"] == "done"
    assert doc["engines"]["tensorflow"]["status"] == "failed"
    assert "no step for 1 s" in doc["engines"]["tensorflow"]["error"]
    assert "no step for 1 s" in capsys.readouterr().out


def test_a_crash_in_process_is_an_error_not_the_end_of_the_program():
    settings = settings_for(_scenario(), steps=20, threads=1, isolation="thread",
                            faults={"tensorflow": "crash@3"})
    state = Comparison(_scenario(), settings, FAKES, telemetry=False).run()
    assert state.engines["tensorflow"].status == "failed"
    assert "simulated crash" in state.engines["tensorflow"].error
    assert state.engines["pytorch"].status == "done"
