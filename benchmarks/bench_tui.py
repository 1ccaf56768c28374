"""Benchmark of the terminal UI (not a test): prints what the issue asks to measure.

    .venv/bin/python benchmarks/bench_tui.py            # fake engines (seconds)
    .venv/bin/python benchmarks/bench_tui.py --real     # also with PyTorch and TensorFlow

1. start-up as a new user meets it: `python -m tui` in a pseudo-terminal (120x40) until the
   picker is usable (its list and the detail of the first scenario drawn, then a key press
   answered), against a minimal Textual app of the same shape (benchmarks/minimal_app.py)
   measured the same way, launches interleaved; printed as a ratio, with the load average,
   with the project's bytecode cached (every launch after the first) and without (the first
   launch, or every launch where PYTHONDONTWRITEBYTECODE=1 meets the editable install);
2. key latency while both engines train: a key press in the pseudo-terminal until the screen
   bytes that answer it arrive (the loss chart's title switching linear <-> log);
3. redraw cost of one dashboard frame with 1e3 and 1e6 recorded steps per engine;
4. with --real: the UI's cost on step times (same run headless with --no-tui vs in the app).

Targets on the reference 2-core machine: usable picker within 1.5x of the minimal app, keys
< 100 ms, redraw flat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLI = [sys.executable, "-m", "tui"]
MINIMAL_APP = [sys.executable, str(ROOT / "benchmarks" / "minimal_app.py")]
DOWN = "\x1b[B"


class Terminal:
    """The app in a pseudo-terminal; a thread drains its output. `command`: another program
    than `python -m tui` (whose arguments are then ignored)."""

    def __init__(self, args: list[str], size=(120, 40), command: list[str] | None = None):
        import fcntl
        import struct
        import termios

        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        env = {**os.environ, "TERM": "xterm-256color"}
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(command or [*CLI, *args], stdin=slave, stdout=slave,
                                     stderr=slave,
                                     cwd=ROOT, env=env, start_new_session=True)
        os.close(slave)
        self.master = master
        self.out = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                if select.select([self.master], [], [], 0.01)[0]:
                    data = os.read(self.master, 1 << 16)
                    if not data:
                        return
                    with self.lock:
                        self.out += data
            except OSError:
                return

    def mark(self) -> int:
        with self.lock:
            return len(self.out)

    def wait_text(self, *texts: str, since: int = 0, timeout: float = 30.0) -> float:
        """Seconds until every one of `texts` has appeared in the output after offset
        `since`."""
        needles = [t.encode() for t in texts]
        t0 = time.perf_counter()
        while True:
            with self.lock:
                if all(self.out.find(n, since) >= 0 for n in needles):
                    return time.perf_counter() - t0
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError(texts)
            time.sleep(0.001)

    def press(self, key: str) -> None:
        os.write(self.master, key.encode())

    def quit(self) -> float:
        t0 = time.perf_counter()
        self.press("q")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        os.close(self.master)
        return time.perf_counter() - t0


def launch_to_usable(command: list[str] | None, drawn: tuple[str, ...],
                     answer: str) -> tuple[float, float]:
    """(seconds to the first frame with every text of `drawn`, seconds until a down-arrow
    pressed right then is answered with `answer`), from the launch."""
    term = Terminal([], command=command)
    term.wait_text(*drawn, timeout=60)
    frame = time.perf_counter() - term.t0
    since = term.mark()
    term.press(DOWN)
    term.wait_text(answer, since=since, timeout=30)
    usable = time.perf_counter() - term.t0
    term.quit()
    return frame, usable


def tmux_launch_to_usable(command: list[str] | None, drawn: tuple[str, ...],
                          answer: str) -> tuple[float, float]:
    """launch_to_usable the way the issue measured it: a tmux window of 120x40 whose text is
    read with `capture-pane` (every 10 ms) until it shows `drawn`, then `answer` after Down."""
    folder = tempfile.mkdtemp(prefix="fwcompare-bench-tmux-")
    tmux = ["tmux", "-S", os.path.join(folder, "socket")]  # a server of its own
    session = "bench"

    def screen() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-t", session],
                              capture_output=True, text=True).stdout

    def wait(texts: tuple[str, ...], t0: float) -> float:
        while not all(t in screen() for t in texts):
            if time.perf_counter() - t0 > 60:
                raise TimeoutError(texts)
            time.sleep(0.01)
        return time.perf_counter() - t0

    cmd = shlex.join(command or CLI)
    t0 = time.perf_counter()
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                    f"cd {shlex.quote(str(ROOT))} && exec {cmd}"], check=True)
    try:
        frame = wait(drawn, t0)
        subprocess.run([*tmux, "send-keys", "-t", session, "Down"], check=True)
        usable = wait((answer,), t0)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
    return frame, usable


PROJECT_PACKAGES = ("tui", "engines", "scenarios")


def set_bytecode_cache(cached: bool) -> None:
    """cached: the project's modules compiled to __pycache__, as its first launch leaves them
    on an ordinary machine (Textual's own come compiled by pip). Not cached: those removed and
    launches told not to write any, so every launch compiles the project's sources (a first
    launch; or every launch where PYTHONDONTWRITEBYTECODE=1 meets the editable install)."""
    import compileall

    if cached:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        for package in PROJECT_PACKAGES:
            compileall.compile_dir(str(ROOT / package), quiet=1)
    else:
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        for package in PROJECT_PACKAGES:
            for cache in (ROOT / package).rglob("__pycache__"):
                shutil.rmtree(cache, ignore_errors=True)


def start_up(runs: int, tmux: bool = False) -> dict[str, list[float]]:
    """Launch-to-usable of the picker and of the minimal app, interleaved (so load drifts hit
    both alike): first frames and usable times of each. `tmux`: measured in tmux."""
    launch = tmux_launch_to_usable if tmux else launch_to_usable
    out: dict[str, list[float]] = {"app": [], "app_frame": [], "minimal": [],
                                   "minimal_frame": []}
    for _ in range(runs):
        # The picker: the list and the first scenario's layer table; the key moves to cnn.
        frame, usable = launch(None, ("regression", "params"), "Small CNN")
        out["app_frame"].append(frame)
        out["app"].append(usable)
        frame, usable = launch(MINIMAL_APP, ("regression", "selected mlp"), "selected cnn")
        out["minimal_frame"].append(frame)
        out["minimal"].append(usable)
    return out


def key_latency(args: list[str], presses: int, label: str) -> tuple[list[float], float]:
    """Latency of 'l' (loss chart linear <-> log) while both engines train; and quit time."""
    term = Terminal(args)
    term.wait_text("running", timeout=120)
    time.sleep(1.0)  # both engines are in their steady loop
    lat = []
    scale = "linear"
    for _ in range(presses):
        scale = "log" if scale == "linear" else "linear"
        since = term.mark()
        t0 = time.perf_counter()
        term.press("l")
        term.wait_text(f"Loss · {scale} ·", since=since, timeout=5)
        lat.append(time.perf_counter() - t0)
        time.sleep(0.15)
    quit_s = term.quit()
    return lat, quit_s


async def redraw_cost(steps: int, frames: int = 30, new_per_frame: int = 200) -> dict:
    """One dashboard frame (pull + widget updates + full screen render) with `steps` recorded
    per engine, while each frame brings `new_per_frame` new steps per engine."""
    import numpy as np

    from engines.hosting.protocol import StepRecord
    from engines.run.state import RunState
    from engines.settings import settings_for
    from scenarios import discover
    from tui.screens.dashboard import DashboardScreen
    from tui.testing import FAKE_ENGINES, app_for

    scenarios, _ = discover([], None)
    scenario = next(s for s in scenarios if s.name == "mlp")
    total = steps + frames * new_per_frame + 1
    settings = settings_for(scenario, steps=total, threads=1, isolation="thread")
    state = RunState(scenario, settings, FAKE_ENGINES)
    rng = np.random.default_rng(0)

    def records(start: int, n: int, ms: float):
        t = (ms + 0.1 * rng.random(n)) / 1e3
        loss = 2.0 / (1 + np.arange(start, start + n) / 1e4)
        return [StepRecord(start + i, "first" if start + i == 0 else "steady", float(loss[i]),
                           float(t[i])) for i in range(n)]

    for name, ms in (("pytorch", 2.0), ("tensorflow", 3.0)):
        state.set_stage(name, "running")
        for s in range(0, steps, 100_000):
            state.add_records(name, records(s, min(100_000, steps - s), ms))

    class Recorded:
        """A stand-in for Comparison (a RunDriver) that serves the pre-filled state."""

        cancelled = False

        def __init__(self, *a, **k):
            self.state = state

        def start(self):
            pass

        def cancel(self):
            pass

        def wait(self, timeout=None, poll=None):
            return True

    app = app_for("--no-telemetry", "--no-save", comparison_factory=Recorded)
    out = {}
    async with app.run_test(size=(120, 40)) as pilot:
        t0 = time.perf_counter()
        app.start_run(scenario, settings, dict(FAKE_ENGINES))
        await pilot.pause(0.2)
        dash = app.screen
        assert isinstance(dash, DashboardScreen)
        out["first_frame_with_history_ms"] = (time.perf_counter() - t0) * 1e3
        pull, charts, render = [], [], []
        done = steps
        for _ in range(frames):
            for name, ms in (("pytorch", 2.0), ("tensorflow", 3.0)):
                state.add_records(name, records(done, new_per_frame, ms))
            done += new_per_frame
            t1 = time.perf_counter()
            dash.refresh_from_run()  # pull the new records, update every widget's view
            t2 = time.perf_counter()
            for chart in dash.query("BrailleChart"):  # rebuild both charts' plots
                chart.render_line(0)
            t3 = time.perf_counter()
            for widget in dash.query("*"):  # then repaint the whole screen from scratch
                widget.refresh()
            app.screen._compositor.render_update(full=True)
            t4 = time.perf_counter()
            pull.append((t2 - t1) * 1e3)
            charts.append((t3 - t2) * 1e3)
            render.append((t4 - t3) * 1e3)
            await pilot.pause(0.01)
        out["pull_and_update_ms"] = statistics.median(pull)
        out["charts_ms"] = statistics.median(charts)
        out["render_ms"] = statistics.median(render)
        out["frame_ms"] = statistics.median(p + c + r for p, c, r in zip(pull, charts, render))
        for name in ("pytorch", "tensorflow"):
            state.finish(name, "cancelled", "benchmark over")
    return out


def ui_cost_on_steps(steps: int) -> dict:
    """Median step times of the same run headless (--no-tui) and inside the app."""
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (("no-tui", ["--no-tui"]),
                             ("app", ["--snapshot", f"{tmp}/s.svg"])):
            path = f"{tmp}/{label}.json"
            subprocess.run([*CLI, "--scenario", "mlp", "--steps", str(steps), *extra,
                            "--export", path], cwd=ROOT, check=True, capture_output=True)
            doc = json.loads(Path(path).read_text())
            res[label] = {n: e["summary"]["median_step_s"] * 1e3
                          for n, e in doc["engines"].items()}
    return res


def fmt(xs: list[float], unit="ms", scale=1e3) -> str:
    xs = sorted(x * scale for x in xs)
    p95 = xs[min(len(xs) - 1, int(0.95 * len(xs)))]
    digits = 2 if unit == "s" else 1
    return (f"median {statistics.median(xs):.{digits}f} {unit}, p95 {p95:.{digits}f} {unit}, "
            f"max {xs[-1]:.{digits}f} {unit} (n={len(xs)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", action="store_true", help="also measure with real frameworks")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--presses", type=int, default=20)
    ap.add_argument("--startup-only", action="store_true",
                    help="only the start-up figures (launch to usable picker and its ratio)")
    ap.add_argument("--tmux", action="store_true",
                    help="measure start-up in tmux (capture-pane polling), as issue 12 did")
    ap.add_argument("--bytecode", choices=("cached", "none", "both"), default="both",
                    help="start-up with the project's bytecode cached (every launch after the "
                         "first), with none (the first launch), or both (default)")
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")

    dont_write = os.environ.get("PYTHONDONTWRITEBYTECODE")
    states = {"cached": [True], "none": [False], "both": [False, True]}[a.bytecode]
    for cached in states:
        set_bytecode_cache(cached)
        load = os.getloadavg()[0]
        su = start_up(a.runs, tmux=a.tmux)
        ratio = statistics.median(su["app"]) / statistics.median(su["minimal"])
        how = "tmux" if a.tmux else "pty"
        state = "bytecode cached" if cached else "no bytecode cache (compiled at each launch)"
        print(f"[{state}]")
        print(f"  launch to first frame (picker drawn, {how}): "
              f"{fmt(su['app_frame'], 's', 1)}")
        print(f"  launch to usable picker (drawn, a key answered; {how} 120x40): "
              f"{fmt(su['app'], 's', 1)}; minimal Textual app the same way: "
              f"{fmt(su['minimal'], 's', 1)}; ratio {ratio:.2f}x "
              f"(load average {load:.2f} -> {os.getloadavg()[0]:.2f})")
    if dont_write is None:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        os.environ["PYTHONDONTWRITEBYTECODE"] = dont_write
    if a.startup_only:
        return

    lat, quit_s = key_latency(["--fake", "--fault", "pytorch=slow", "--fault",
                               "tensorflow=slow", "--scenario", "mlp", "--steps", "100000"],
                              a.presses, "fake")
    print(f"key latency, both fake engines stepping ('slow' fault, child processes): "
          f"{fmt(lat)}")
    print(f"quit mid-run to shell (fake): {quit_s * 1e3:.0f} ms")
    if a.real:
        lat, quit_s = key_latency(["--scenario", "mlp", "--steps", "20000", "--schedule",
                                   "parallel", "--threads", "1"], a.presses, "real")
        print(f"key latency, PyTorch and TensorFlow training at once (parallel, 1 thread "
              f"each): {fmt(lat)}")
        lat, quit_s = key_latency(["--scenario", "mlp", "--steps", "20000"], a.presses,
                                  "real")
        print(f"key latency, PyTorch and TensorFlow taking turns (default): {fmt(lat)}")
        print(f"quit mid-run to shell (real): {quit_s * 1e3:.0f} ms")

    for steps in (1_000, 1_000_000):
        r = asyncio.run(redraw_cost(steps))
        print(f"redraw at {steps:>9,} recorded steps/engine: frame {r['frame_ms']:.2f} ms "
              f"(pull+update {r['pull_and_update_ms']:.2f} ms, both charts "
              f"{r['charts_ms']:.2f} ms, full-screen repaint {r['render_ms']:.2f} ms); "
              f"opening the dashboard on that history {r['first_frame_with_history_ms']:.0f} ms")

    if a.real:
        r = ui_cost_on_steps(300)
        for name in r["no-tui"]:
            print(f"UI cost on {name} median step (mlp, 300 steps): --no-tui "
                  f"{r['no-tui'][name]:.3f} ms, in the app {r['app'][name]:.3f} ms "
                  f"({(r['app'][name] / r['no-tui'][name] - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
