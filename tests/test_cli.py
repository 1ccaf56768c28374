"""The headless command line: --list, bad input (exit 2), real runs, export, failures, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tui.cli import main

CLI = [sys.executable, "-m", "tui"]
REQUIRED_SETTINGS = {"task", "steps", "warmup_steps", "batch_size", "mode", "schedule",
                     "isolation", "device", "threads", "dtype", "seed"}


def run_cli(*args, env=None, timeout=300):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          env=full_env)


def test_list_shows_builtins_and_given_files(tmp_path):
    extra = tmp_path / "mine.toml"
    text = (Path(__file__).parent.parent / "scenarios/builtin/regression.toml").read_text()
    extra.write_text(text.replace('name = "regression"', 'name = "mine"'))
    proc = run_cli("--list", "--scenario-file", str(extra))
    assert proc.returncode == 0
    out = proc.stdout
    for name in ("mlp", "cnn", "lstm", "regression", "mine"):
        assert name in out
    assert "MLP on a synthetic 10-class task" in out and str(extra) in out


@pytest.mark.parametrize("args,words", [
    (["--no-tui", "--scenario", "nope"], "unknown scenario 'nope'"),
    (["--no-tui"], "choose a scenario"),
    (["--no-tui", "--scenario", "mlp", "--steps", "0"], "--steps: expected a positive integer"),
    (["--no-tui", "--scenario", "mlp", "--batch-size", "99999"], "exceeds"),
    (["--no-tui", "--scenario", "mlp", "--engines", "jax"], "unknown engine 'jax'"),
    (["--no-tui", "--scenario", "mlp", "--export", "out.txt"], "ending in .json"),
    (["--no-tui", "--scenario", "mlp", "--fault", "pytorch=nan@3"], "only works with --fake"),
])
def test_bad_arguments_exit_2_with_a_message(args, words, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_bad_scenario_file_exits_2_naming_file_and_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[data]\nkind = "teacher"\n')
    proc = run_cli("--no-tui", "--scenario-file", str(bad))
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and "[data].samples" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_argument_exits_2():
    proc = run_cli("--colour", "blue")
    assert proc.returncode == 2 and "unrecognized arguments" in proc.stderr


@pytest.mark.frameworks
def test_real_run_exports_the_documented_json(tmp_path):
    out = tmp_path / "r.json"
    proc = run_cli("--no-tui", "--scenario", "regression", "--steps", "40", "--threads", "1",
                   "--export", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "speed-up:" in proc.stdout and "parity: OK" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["schema"] == 1
    assert doc["scenario"]["name"] == "regression" and "layers" in doc["scenario"]
    assert set(doc["settings"]) >= REQUIRED_SETTINGS
    assert doc["settings"]["steps"] == 40 and doc["settings"]["isolation"] == "process"
    env = doc["environment"]
    assert {"python", "platform", "cpu", "cpu_count", "gpus", "versions"} <= set(env)
    assert env["versions"]["torch"] and env["versions"]["tensorflow"]
    for name in ("pytorch", "tensorflow"):
        e = doc["engines"][name]
        assert e["status"] == "done" and e["error"] is None
        assert all(e["phases_s"][k] > 0 for k in ("import", "build", "first_step", "warmup"))
        # Paired turns: at least the run's steps, every one of them, in order.
        assert len(e["steps"]) >= 40
        assert [s["step"] for s in e["steps"]] == list(range(len(e["steps"])))
        assert {s["phase"] for s in e["steps"]} <= {"first", "warmup", "steady", "resume"}
        summ = e["summary"]
        assert summ["steps_done"] == len(e["steps"]) and summ["median_step_s"] > 0
        assert summ["samples_per_s"] == pytest.approx(64 / summ["median_step_s"])
    par = doc["comparison"]["parity"]
    assert par["steps_compared"] == min(len(e["steps"]) for e in doc["engines"].values())
    assert par["within_tolerance"] is True
    assert par["max_rel_loss_diff"] < 1e-4
    sp = doc["comparison"]["speedup"]
    assert sp["faster"] in ("pytorch", "tensorflow") and sp["ratio"] >= 1


@pytest.mark.frameworks
def test_missing_framework_is_reported_and_the_other_engine_finishes(tmp_path):
    # A package named tensorflow that fails to import shadows the real one in the children.
    shadow = tmp_path / "shadow" / "tensorflow"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named tensorflow')\n")
    out = tmp_path / "r.json"
    proc = run_cli("--no-tui", "--scenario", "regression", "--steps", "20", "--threads", "1",
                   "--export", str(out), env={"PYTHONPATH": str(tmp_path / "shadow")})
    assert proc.returncode == 1
    assert "TensorFlow is not installed" in proc.stdout
    doc = json.loads(out.read_text())
    assert doc["engines"]["tensorflow"]["status"] == "unavailable"
    assert doc["engines"]["pytorch"]["status"] == "done"
    assert len(doc["engines"]["pytorch"]["steps"]) == 20


@pytest.mark.frameworks
def test_nan_loss_in_a_real_engine_fails_it_clearly(tmp_path):
    text = (Path(__file__).parent.parent / "scenarios/builtin/regression.toml").read_text()
    boom = tmp_path / "boom.toml"
    boom.write_text(text.replace('name = "regression"', 'name = "boom"')
                    .replace("learning_rate = 0.05", "learning_rate = 1e6"))
    out = tmp_path / "r.json"
    proc = run_cli("--no-tui", "--scenario-file", str(boom), "--steps", "30", "--threads", "1",
                   "--engines", "pytorch", "--export", str(out))
    assert proc.returncode == 1
    doc = json.loads(out.read_text())
    e = doc["engines"]["pytorch"]
    assert e["status"] == "failed"
    assert "loss became" in e["error"] and "lower learning rate" in e["error"]
    assert e["steps"][-1]["loss"] is None  # the non-finite step is kept, as null


@pytest.mark.slow
def test_ctrl_c_stops_both_engines_exports_and_leaves_no_process(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [*CLI, "--no-tui", "--scenario", "mlp", "--steps", "100000", "--fake", "--fault",
         "pytorch=slow", "--fault", "tensorflow=slow", "--export", str(out), "--no-telemetry"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        children: list[psutil.Process] = []
        while time.monotonic() < deadline:
            children = psutil.Process(proc.pid).children(recursive=True)
            if len(children) >= 2:
                break
            time.sleep(0.1)
        time.sleep(2.0)  # let both start stepping
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert elapsed < 4.0, f"took {elapsed:.1f} s"  # 2 s to stop, plus the export and exit
    assert "interrupted" in stdout
    # Engine children and multiprocessing's resource tracker all go away.
    _, alive = psutil.wait_procs(children, timeout=2.0)
    assert not [c for c in alive if c.status() != psutil.STATUS_ZOMBIE]
    doc = json.loads(out.read_text())
    assert {e["status"] for e in doc["engines"].values()} == {"cancelled"}
    assert len(doc["engines"]["pytorch"]["steps"]) > 0


def _has_nvidia_gpu() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml.nvmlDeviceGetCount() > 0
    except Exception:  # noqa: BLE001 - no library, no driver: no GPU
        return False


@pytest.mark.frameworks
@pytest.mark.skipif(_has_nvidia_gpu(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_makes_both_engines_unavailable_with_a_reason(tmp_path):
    out = tmp_path / "r.json"
    proc = run_cli("--no-tui", "--scenario", "regression", "--steps", "5", "--device", "cuda",
                   "--threads", "1", "--export", str(out))
    assert proc.returncode == 1
    doc = json.loads(out.read_text())
    for name, words in (("pytorch", "PyTorch sees no CUDA GPU"),
                        ("tensorflow", "sees no GPU")):
        e = doc["engines"][name]
        assert e["status"] == "unavailable" and "device cuda" in e["error"], e["error"]
        assert words in e["error"]


@pytest.mark.parametrize("args,words", [
    (["--fake", "--fault", "torch=nan@3"], "unknown engine 'torch'"),
    (["--fake", "--fault", "pytorch=nan@x"], "expected nan@STEP"),
    (["--warmup-steps", "50", "--steps", "20"], "--warmup-steps: expected fewer than"),
    (["--export", "/proc/nope/r.json"], "does not exist"),
])
def test_more_bad_arguments_exit_2_before_running(args, words, capsys):
    assert main(["--no-tui", "--scenario", "mlp", *args]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_app_mode_refuses_headless_only_options(capsys):
    assert main(["--scenario", "mlp", "--until-stable"]) == 2
    assert "add --no-tui" in capsys.readouterr().err


def test_an_export_that_fails_at_the_end_is_a_message_and_exit_1(tmp_path, capsys, monkeypatch):
    import engines.results.finish as finish

    def refuse(doc, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(finish, "write_json", refuse)
    code = main(["--no-tui", "--scenario", "mlp", "--steps", "10", "--fake", "--no-save",
                 "--no-telemetry", "--export", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert code == 1
    assert "could not write" in captured.err and "No space left" in captured.err
    assert "speed-up:" in captured.out  # the summary was still printed
