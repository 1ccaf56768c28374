"""The command line against abusive input: documented maxima, empty values, options that do
nothing on the line they are on, output paths that cannot be written, writes that fail at the
end, and a reader that goes away (`| head`)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tui.cli import build_parser, main, parse_options
from tui.limits import MAX_REPEAT, MAX_SIZE, MAX_STEPS, MAX_THREADS, usable_cores
from tui.option_rules import LISTING_USES, OPTIONS_OF_USE, USES, flag, use_of
from tui.options import BadInput

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "tui"]
QUICK_RUN = ["--no-tui", "--fake", "--in-process", "--no-telemetry", "--scenario", "regression",
             "--steps", "12"]


def refused(argv: list[str], capsys) -> str:
    """The error of a line that must be refused before anything runs (exit 2)."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# -- maxima ------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,words", [
    (["--size", "100000x100000"], f"at most {MAX_SIZE[0]}x{MAX_SIZE[1]}"),
    (["--size", f"{MAX_SIZE[0] + 1}x40"], "at most"),
    (["--size", f"120x{MAX_SIZE[1] + 1}"], "at most"),
    (["--size", "120x40x2"], "expected WxH"),
    (["--size=-120x40"], "expected WxH"),
    (["--size", "1e3x40"], "expected WxH"),
    (["--size", "1_20x40"], "expected WxH"),
    (["--size", "79x40"], "at least 80x24"),
])
def test_the_snapshot_size_is_bounded(argv, words, tmp_path, capsys):
    err = refused(["--fake", "--scenario", "mlp", "--snapshot", str(tmp_path / "x.svg"), *argv],
                  capsys)
    assert words in err
    assert not (tmp_path / "x.svg").exists()


def test_the_largest_size_is_accepted(tmp_path):
    opts = parse_options(["--fake", "--scenario", "mlp", "--snapshot", str(tmp_path / "x.svg"),
                          "--size", f"{MAX_SIZE[0]}x{MAX_SIZE[1]}"])
    assert opts.size == MAX_SIZE


@pytest.mark.parametrize("argv,words", [
    (["--threads", str(MAX_THREADS + 1)], f"--threads: expected a positive integer up to {MAX_THREADS}"),
    (["--threads", "99999999999999999999"], f"--threads: expected a positive integer up to {MAX_THREADS}"),
    (["--threads", "0"], "--threads: expected a positive integer"),
    (["--steps", str(MAX_STEPS + 1)], f"--steps: expected a positive integer up to {MAX_STEPS:,}"),
    (["--steps", "-5"], "--steps: expected a positive integer"),
    (["--repeat", str(MAX_REPEAT + 1)], f"from 1 to {MAX_REPEAT}"),
    (["--repeat", "0"], f"from 1 to {MAX_REPEAT}"),
    (["--stall-timeout", "-1"], "--stall-timeout"),
    (["--stall-timeout", "nan"], "--stall-timeout"),
    (["--stall-timeout", "inf"], "--stall-timeout"),
    (["--stall-timeout", "1e9"], "--stall-timeout"),
    (["--device", "cuda", "--gpu", "100000"], "--gpu: at most"),
])
def test_counts_are_bounded(argv, words, capsys):
    err = refused(["--no-tui", "--fake", "--scenario", "mlp", *argv], capsys)
    assert words in err


def test_more_threads_than_cores_is_a_warning_not_an_error(capsys):
    more = usable_cores() + 1
    assert main([*QUICK_RUN, "--no-save", "--threads", str(more)]) == 0
    err = capsys.readouterr().err
    assert f"--threads {more} is more than the {usable_cores()} core(s)" in err
    assert main([*QUICK_RUN, "--no-save", "--threads", str(usable_cores())]) == 0
    assert "core(s)" not in capsys.readouterr().err


# -- empty values --------------------------------------------------------------------------------

def _value_options() -> list[tuple[str, int | str | None]]:
    """(option, nargs) of every option that takes a value."""
    out = []
    for action in build_parser()._actions:  # noqa: SLF001
        if action.option_strings and action.nargs != 0 and action.dest != "help":
            out.append((action.option_strings[0], action.nargs))
    return out


@pytest.mark.parametrize("option,nargs", _value_options())
def test_every_empty_value_is_refused(option, nargs, capsys):
    if nargs == 2:
        line = [option, "", "b.json"]
    else:
        line = [f"{option}="]
    try:
        code = main(line)
    except SystemExit as stop:  # argparse itself refuses it (a number option)
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err


def test_an_empty_snapshot_never_opens_the_app_and_an_empty_export_never_skips_it(capsys):
    assert "--snapshot: expected a value" in refused(["--fake", "--snapshot="], capsys)
    assert "--export: expected a value" in refused([*QUICK_RUN, "--export="], capsys)
    assert "--scenario: expected a value" in refused(["--no-tui", "--scenario= "], capsys)


# -- every option against every use of the line ---------------------------------------------

def test_every_option_is_classified_for_every_use():
    dests = {a.dest for a in build_parser()._actions if a.option_strings} - {"help"}  # noqa: SLF001
    classified = set().union(*OPTIONS_OF_USE.values())
    assert dests <= classified, f"options no use reads: {dests - classified}"


# One valid fragment per option (the ones deciding the use are the base lines below).
SAMPLES = {
    "scenario": ["--scenario", "mlp"], "scenario_file": ["--scenario-file",
                                                         str(ROOT / "scenarios/builtin/mlp.toml")],
    "steps": ["--steps", "20"], "batch_size": ["--batch-size", "32"],
    "warmup_steps": ["--warmup-steps", "2"], "mode": ["--mode", "compiled"],
    "task": ["--task", "infer"], "schedule": ["--schedule", "sequential"],
    "device": ["--device", "cuda"], "threads": ["--threads", "1"],
    "engines": ["--engines", "pytorch,tensorflow"], "in_process": ["--in-process"],
    "export": ["--export", "EXPORT"], "no_telemetry": ["--no-telemetry"], "fake": ["--fake"],
    "fault": ["--fault", "tensorflow=slow", "--fake"], "aa": ["--aa"],
    "gpu": ["--gpu", "0", "--device", "cuda"],
    "cudnn_autotune": ["--cudnn-autotune", "off", "--device", "cuda"],
    "no_save": ["--no-save"], "stall_timeout": ["--stall-timeout", "30"],
    "until_confident": ["--until-confident", "5"], "until_stable": ["--until-stable"],
    "repeat": ["--repeat", "2"], "matrix_modes": ["--matrix-modes", "eager"],
    "size": ["--size", "100x30"], "no_tui": ["--no-tui"], "snapshot": ["--snapshot", "SNAP"],
    "matrix": ["--matrix"], "list": ["--list"], "list_runs": ["--list-runs"],
    "compare": ["--compare", "a.json", "b.json"],
}
BASE = {
    "list": ["--list"], "list-runs": ["--list-runs"], "compare": ["--compare", "a.json", "b.json"],
    "matrix": ["--matrix", "--fake", "--scenario", "mlp"],
    "headless": ["--no-tui", "--fake", "--scenario", "mlp"],
    "snapshot": ["--fake", "--scenario", "mlp", "--snapshot", "SNAP"],
    "app": ["--fake"],
}


@pytest.mark.parametrize("use", USES)
def test_an_option_a_use_does_not_read_is_refused_or_warned_about(use, tmp_path):
    def fill(argv):
        return [str(tmp_path / "x.json") if a == "EXPORT" else
                str(tmp_path / "x.svg") if a == "SNAP" else a for a in argv]

    for dest, sample in SAMPLES.items():
        argv = fill(BASE[use] + sample)
        if use_of(build_parser().parse_args(argv)) != use:
            continue  # the sample decides another use (e.g. --list wins over --no-tui)
        unused = dest not in OPTIONS_OF_USE[use]
        try:
            opts = parse_options(argv)
        except BadInput as err:
            if unused:
                assert f"{flag(dest)} has no effect" in str(err), (use, dest, str(err))
            else:
                assert "has no effect" not in str(err), (use, dest, str(err))
            continue
        assert not unused or use in LISTING_USES, f"{flag(dest)} was silently accepted ({use})"
        said = " ".join(opts.warnings)
        assert (f"{flag(dest)} has no effect" in said) == unused, (use, dest, said)


@pytest.mark.parametrize("argv,words", [
    (["--fake", "--engines", "tensorflow", "--fault", "pytorch=nan@3"],
     "--fault pytorch=nan@3 has no effect: pytorch is not among the engines run"),
    (["--fake", "--aa", "--engines", "tensorflow", "--fault", "pytorch=slow"], "has no effect"),
    (["--fake", "--in-process", "--fault", "tensorflow=crash@3"], "needs the engine in its own"),
    (["--fake", "--in-process", "--fault", "tensorflow=hang@3"], "needs the engine in its own"),
    (["--fake", "--fault", "tensorflow=slow", "--fault", "tensorflow=nan@3"], "two faults"),
    (["--fake", "--aa", "--engines", "pytorch,tensorflow"], "--aa runs one engine"),
    (["--fake", "--engines", "pytorch", "--until-confident"], "between two engines"),
    (["--fake", "--engines", "pytorch", "--schedule", "parallel"], "--schedule has no effect"),
    (["--fake", "--until-stable", "--until-confident", "5"], "give one of them"),
    (["--fake", "--gpu", "1"], "--gpu has no effect without --device cuda"),
    (["--fake", "--cudnn-autotune", "off"], "--cudnn-autotune has no effect"),
    (["--matrix", "--fake", "--matrix-modes", "eager,eager"], "each once"),
])
def test_options_that_cannot_work_together_are_refused(argv, words, capsys):
    line = argv + ([] if "--matrix" in argv else ["--no-tui"])
    assert words in refused([*line, "--scenario", "mlp"], capsys)


def test_several_scenario_files_need_a_scenario_name(tmp_path, capsys):
    files = []
    for name in ("one", "two"):
        path = tmp_path / f"{name}.toml"
        path.write_text((ROOT / "scenarios/builtin/mlp.toml").read_text()
                        .replace('name = "mlp"', f'name = "{name}"'))
        files += ["--scenario-file", str(path)]
    assert "say which one to run" in refused(["--no-tui", "--fake", *files], capsys)
    assert parse_options(["--no-tui", "--fake", *files, "--scenario", "one"]).scenario.name \
        == "one"


def test_a_listing_command_says_what_it_ignores_and_still_lists(capsys):
    assert main(["--list-runs", "--export", "x.json", "--steps", "0"]) == 0
    err = capsys.readouterr().err
    assert "--export has no effect with --list-runs" in err and "--steps has no effect" in err


# -- output paths ---------------------------------------------------------------------------------

@pytest.fixture(params=["--export", "--snapshot"])
def output(request):
    """(option, suffix, the rest of a line that runs) for each output file."""
    if request.param == "--export":
        return "--export", ".json", QUICK_RUN
    return "--snapshot", ".svg", ["--fake", "--scenario", "regression", "--steps", "12"]


def test_a_folder_with_the_outputs_name_is_refused_before_running(output, tmp_path, capsys):
    option, suffix, line = output
    target = tmp_path / f"x{suffix}"
    target.mkdir()
    assert "is a folder" in refused([*line, option, str(target)], capsys)


def test_a_path_the_os_refuses_is_refused_before_running(output, capsys):
    option, suffix, line = output
    assert "cannot write in" in refused([*line, option, f"/proc/x{suffix}"], capsys)


def test_a_fifo_with_the_outputs_name_is_refused(output, tmp_path, capsys):
    option, suffix, line = output
    os.mkfifo(tmp_path / f"x{suffix}")
    assert "not a regular file" in refused([*line, option, str(tmp_path / f"x{suffix}")], capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused_before_running(output, tmp_path, capsys):
    option, suffix, line = output
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert "cannot write in" in refused([*line, option, str(folder / f"x{suffix}")], capsys)
    finally:
        folder.chmod(stat.S_IRWXU)


def test_an_immutable_file_is_refused_before_running(output, tmp_path, capsys):
    option, suffix, line = output
    target = tmp_path / f"x{suffix}"
    target.write_text("old")
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(target)], capture_output=True).returncode != 0:
        pytest.skip("no chattr +i here")
    try:
        assert "cannot be replaced" in refused([*line, option, str(target)], capsys)
    finally:
        subprocess.run(["chattr", "-i", str(target)], check=True)
    assert target.read_text() == "old"


def test_checking_a_path_leaves_nothing_behind(tmp_path):
    parse_options([*QUICK_RUN, "--export", str(tmp_path / "x.json")])
    parse_options(["--fake", "--scenario", "mlp", "--snapshot", str(tmp_path / "x.svg")])
    assert list(tmp_path.iterdir()) == []


def test_an_export_that_fails_at_the_end_keeps_the_results_and_says_where(
        tmp_path, capsys, monkeypatch):
    import engines.results.finish as finish

    def full_disk(doc, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(finish, "write_json", full_disk)
    runs = tmp_path / "runs"
    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", str(runs))
    code = main([*QUICK_RUN, "--no-save", "--export", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 1
    assert "could not write the export" in err and "No space left on device" in err
    kept = list(runs.glob("*.json"))
    assert len(kept) == 1 and f"the results are kept in {kept[0]}" in err
    assert json.loads(kept[0].read_text())["engines"]["pytorch"]["status"] == "done"


@pytest.mark.slow
def test_a_snapshot_that_fails_at_the_end_keeps_the_results_and_never_exits_2(
        tmp_path, capsys, monkeypatch):
    import tui.run_end

    def refuse(path, text):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tui.run_end, "write_atomically", refuse)
    runs = tmp_path / "runs"
    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", str(runs))
    export = tmp_path / "r.json"
    code = main(["--fake", "--in-process", "--no-telemetry", "--scenario", "regression",
                 "--steps", "12", "--snapshot", str(tmp_path / "s.svg"), "--export",
                 str(export)])
    err = capsys.readouterr().err
    assert code == 1  # an output is missing; the run happened (2 would mean it did not)
    assert "could not write the snapshot" in err and "Permission denied" in err
    kept = list(runs.glob("*.json"))
    assert len(kept) == 1 and str(kept[0]) in err
    assert export.exists()  # the export, written before the picture, is there too


# -- a reader that goes away --------------------------------------------------------------------

@pytest.mark.slow
def test_a_closed_stdout_stops_neither_the_run_nor_the_export(tmp_path):
    export = tmp_path / "r.json"
    proc = subprocess.Popen([*CLI, "--no-tui", "--fake", "--scenario", "mlp", "--steps", "300",
                             "--fault", "pytorch=slow", "--no-save", "--no-telemetry",
                             "--export", str(export)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout.readline().startswith(b"Running")  # `| head -1`
    proc.stdout.close()
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err and b"BrokenPipe" not in err
    doc = json.loads(export.read_text())
    assert {e["status"] for e in doc["engines"].values()} == {"done"}


def test_a_listing_into_a_closed_pipe_exits_cleanly(tmp_path):
    proc = subprocess.Popen([*CLI, "--list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=ROOT)
    proc.stdout.close()  # the reader is gone before the first line
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == b"", err
