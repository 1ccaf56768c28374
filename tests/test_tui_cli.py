"""The app from the command line: --snapshot end to end, exit codes, and quitting a live run
in a real terminal (a pseudo-terminal) without leaving a process behind."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

CLI = [sys.executable, "-m", "tui"]
ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


# -- --snapshot -------------------------------------------------------------------------------

@pytest.mark.slow
def test_snapshot_of_a_fake_run_writes_the_svg_and_the_export(tmp_path):
    svg, out = tmp_path / "run.svg", tmp_path / "run.json"
    r = run_cli("--fake", "--scenario", "mlp", "--steps", "80", "--snapshot", str(svg),
                "--export", str(out), "--size", "100x30")
    assert r.returncode == 0, r.stderr
    text = svg.read_text().replace("&#160;", " ")
    assert text.startswith("<svg") and "PyTorch" in text and "TensorFlow" in text
    assert "SIMULATED" in text and "within" in text
    doc = json.loads(out.read_text())
    assert doc["engines"]["tensorflow"]["summary"]["steps_done"] >= 80
    assert "samples" in doc["telemetry"]


@pytest.mark.slow
def test_snapshot_exits_1_when_an_engine_fails(tmp_path):
    svg = tmp_path / "fail.svg"
    r = run_cli("--fake", "--fault", "tensorflow=crash@10", "--scenario", "regression",
                "--steps", "50", "--snapshot", str(svg))
    assert r.returncode == 1, r.stderr
    text = svg.read_text().replace("&#160;", " ")
    assert "failed" in text and "died" in text


@pytest.mark.parametrize("args", [
    ["--scenario", "mlp", "--snapshot", "x.svg", "--size", "10x10"],
    ["--scenario", "mlp", "--snapshot", "x.png"],
    ["--scenario", "nope", "--snapshot", "x.svg"],
    ["--snapshot", "x.svg"],
    ["--scenario", "mlp", "--snapshot", "/no/such/folder/x.svg"],
    ["--scenario", "mlp", "--batch-size", "100000", "--snapshot", "x.svg"],
    ["--fault", "tensorflow=nan@3", "--scenario", "mlp", "--snapshot", "x.svg"],
])
def test_bad_input_exits_2_before_anything_runs(args, tmp_path):
    r = subprocess.run([*CLI, "--fake", *args] if "--fault" not in args else [*CLI, *args],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2, r.stdout + r.stderr
    assert "error:" in r.stderr
    assert not (tmp_path / "x.svg").exists()


@pytest.mark.frameworks
def test_snapshot_with_both_real_frameworks(tmp_path):
    svg, out = tmp_path / "real.svg", tmp_path / "real.json"
    r = run_cli("--scenario", "regression", "--steps", "20", "--snapshot", str(svg),
                "--export", str(out), timeout=300)
    assert r.returncode == 0, r.stderr
    text = svg.read_text().replace("&#160;", " ")
    assert "PyTorch" in text and "TensorFlow" in text
    assert "torch 2." in text and "tensorflow 2." in text  # versions from the engine processes
    assert "SIMULATED" not in text
    doc = json.loads(out.read_text())
    assert all(e["status"] == "done" for e in doc["engines"].values())
    assert doc["comparison"]["parity"]["within_tolerance"] is True


# -- a real terminal ---------------------------------------------------------------------------

class Terminal:
    """The app in a pseudo-terminal: keys in, screen bytes out (drained by a thread)."""

    def __init__(self, args: list[str], size=(100, 30)):
        import fcntl
        import struct
        import termios

        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(size[0]),
               "LINES": str(size[1])}
        self.proc = subprocess.Popen([*CLI, *args], stdin=slave, stdout=slave, stderr=slave,
                                     cwd=ROOT, env=env, start_new_session=True)
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if ready:
                    data = os.read(self.master, 65536)
                    if not data:
                        return
                    with self.lock:
                        self.output += data
            except OSError:
                return

    def seen(self, text: str) -> bool:
        with self.lock:
            return text.encode() in self.output

    def wait_for(self, predicate, timeout: float) -> float:
        t0 = time.perf_counter()
        while not predicate():
            if time.perf_counter() - t0 > timeout:
                raise AssertionError("timed out")
            time.sleep(0.01)
        return time.perf_counter() - t0

    def press(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass


def still_running(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


@pytest.mark.timeout(60)
@pytest.mark.slow
def test_quitting_mid_run_returns_within_2s_and_leaves_no_process():
    term = Terminal(["--fake", "--fault", "pytorch=slow", "--fault", "tensorflow=slow",
                     "--scenario", "mlp", "--steps", "100000"])
    try:
        term.wait_for(lambda: term.seen("step"), timeout=20)
        # Both engine processes are up (plus multiprocessing's resource tracker).
        term.wait_for(lambda: len(descendants(term.proc.pid)) >= 3, timeout=20)
        term.wait_for(lambda: term.seen("running"), timeout=20)
        children = descendants(term.proc.pid)
        t0 = time.perf_counter()
        term.press("q")
        term.proc.wait(timeout=10)
        elapsed = time.perf_counter() - t0
        assert elapsed < 2.0, f"took {elapsed:.2f} s to return to the shell"
        assert term.proc.returncode == 0
        _, alive = psutil.wait_procs(children, timeout=1.0)
        # A killed child whose parent has exited is reaped by init; as a zombie it no
        # longer runs, so only processes that still run count as left behind.
        running = [p for p in alive if still_running(p)]
        assert running == [], [p.pid for p in running]
    finally:
        term.close()
