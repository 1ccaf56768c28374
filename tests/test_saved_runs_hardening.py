"""Saved runs and --compare against files nobody meant to write: odd file types, damaged and
retyped documents, out-of-range and non-finite numbers. Every file is read or refused with a
message naming it; nothing blocks, nothing raises past the listing, the verdict or the
side-by-side comparison. Also: a document holding NaN is still written (as null)."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.results import document
from engines.results.diff import CompareRow, compare_runs
from engines.results.document import write_json
from engines.results.store import (
    RunFileError,
    RunInfo,
    list_runs,
    load_run,
    run_info,
    save_run,
    time_text,
    verdict_text,
)
from tui.cli import main

pytestmark = pytest.mark.timeout(120)

RUN_ARGS = ["--no-tui", "--fake", "--scenario", "regression", "--steps", "12", "--in-process",
            "--no-telemetry", "--no-save"]


@pytest.fixture(scope="module")
def base_docs(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Real exported documents made with the fake engines: a run, a run of one engine, a
    repeated run, a matrix, and a run whose PyTorch engine failed."""
    folder = tmp_path_factory.mktemp("base-docs")
    variants = {
        "run": [],
        "one-engine": ["--engines", "tensorflow", "--task", "infer"],
        "repeat": ["--repeat", "2"],
        "matrix": ["--matrix", "--matrix-modes", "eager"],
        "failed": ["--fault", "pytorch=nan@4"],
    }
    docs = {}
    for name, extra in variants.items():
        path = folder / f"{name}.json"
        assert main([*RUN_ARGS, *extra, "--export", str(path)]) in (0, 1)
        docs[name] = load_run(path)
    return docs


def _write(folder: Path, name: str, doc: Any) -> Path:
    path = folder / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _assert_readers_hold(doc: dict[str, Any], path: Path, others: list[dict[str, Any]]) -> None:
    """Every reader of a saved document gives well-typed values for an accepted document."""
    info = run_info(path, doc)
    assert isinstance(info, RunInfo)
    assert info.started is None or (isinstance(info.started, float)
                                    and math.isfinite(info.started))
    for text in (info.kind, info.scenario, info.task, info.mode, info.device, info.schedule,
                 info.host, info.status, info.verdict, info.started_text, info.title):
        text.encode("utf-8")  # a str, and one a terminal can take (no lone surrogate)
    assert info.steps is None or isinstance(info.steps, int)
    assert info.repeats is None or isinstance(info.repeats, int)
    for e in info.engines:
        e.encode("utf-8")
    assert isinstance(verdict_text(doc), str)
    for a, b in [(doc, doc)] + [(doc, o) for o in others] + [(o, doc) for o in others]:
        cmp = compare_runs(a, b)
        cmp.title_a.encode("utf-8"), cmp.title_b.encode("utf-8")
        for row in cmp.rows:
            assert isinstance(row, CompareRow)
            for x in (row.section, row.label, row.a, row.b, row.note):
                x.encode("utf-8")
        for w in cmp.warnings:
            w.encode("utf-8")


# -- the cases the hardening issue found, and the classes they stand for -----------------------

@pytest.mark.parametrize("started", [1e300, -1e20, 10**400, "yesterday", [1], True])
def test_out_of_range_start_time_is_refused_naming_the_field(tmp_path, base_docs, started,
                                                             capsys, monkeypatch):
    path = _write(tmp_path, "odd.json", {**base_docs["run"], "started": started})
    with pytest.raises(RunFileError, match=r"odd\.json: started: "):
        load_run(path)
    listing = list_runs(tmp_path)
    assert listing.runs == [] and "odd.json: started" in listing.warnings[0]
    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", str(tmp_path))
    capsys.readouterr()
    assert main(["--list-runs"]) == 0
    out, err = capsys.readouterr()
    assert "odd.json: started" in err and "no saved runs" in out


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_read_as_null(tmp_path, base_docs, literal):
    """Our writer writes a non-finite number as null; a file holding one reads the same."""
    text = json.dumps(base_docs["run"]).replace('"started": ', f'"started": {literal}, "x": ', 1)
    path = tmp_path / "nan.json"
    path.write_text(text, encoding="utf-8")
    doc = load_run(path)
    assert doc["started"] is None
    info = list_runs(tmp_path).runs[0]
    assert info.started is None and info.started_text == "?"


def _retyped(doc: dict[str, Any], where: tuple, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node = out
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    return out


RETYPED = [  # (what, where, value, the field the message names)
    ("engines as strings", ("engines",), {"pytorch": "done", "tensorflow": "done"},
     "engines.pytorch"),
    ("a one-element ci95", ("comparison", "speedup", "ci95"), [1.2], "comparison.speedup.ci95"),
    ("comparison as a string", ("comparison",), "fast", "comparison"),
    ("warnings as plain strings", ("fairness", "warnings"), ["slow machine"],
     "fairness.warnings[0]"),
    ("a string for a number", ("engines", "pytorch", "summary", "median_step_s"), "1 ms",
     "engines.pytorch.summary.median_step_s"),
    ("a negative duration", ("engines", "pytorch", "phases_s", "first_step"), -1.0,
     "engines.pytorch.phases_s.first_step"),
    ("a speed-up without a ratio", ("comparison", "speedup"), {"faster": "pytorch"},
     "comparison.speedup.ratio"),
    ("steps as a number", ("engines", "tensorflow", "steps"), 12, "engines.tensorflow.steps"),
    ("a step record as a list", ("engines", "tensorflow", "steps", 3), [3, "steady"],
     "engines.tensorflow.steps[3]"),
    ("settings with a list for threads", ("settings", "threads"), [1, 2], "settings.threads"),
    ("a huge scenario name", ("scenario", "name"), "x" * 1_000_000, "scenario.name"),
    ("a deeply nested layer list", ("scenario", "layers"), json.loads("[" * 200 + "]" * 200),
     "scenario.layers"),
    ("a boolean for a count", ("engines", "pytorch", "summary", "steps_done"), True,
     "engines.pytorch.summary.steps_done"),
    ("GPUs as names", ("environment", "gpus"), ["H100"], "environment.gpus[0]"),
    ("a repeat count of zero", ("repeats",), {"count": 0}, "repeats.count"),
]


@pytest.mark.parametrize("what,where,value,field", RETYPED, ids=[r[0] for r in RETYPED])
def test_wrong_types_inside_are_refused_by_compare_and_skipped_by_listing(
        tmp_path, base_docs, capsys, monkeypatch, what, where, value, field):
    good = _write(tmp_path, "good.json", base_docs["run"])
    bad = _write(tmp_path, "bad.json", _retyped(base_docs["run"], where, value))
    with pytest.raises(RunFileError) as err:
        load_run(bad)
    assert str(err.value).startswith(f"{bad}: {field}")
    capsys.readouterr()
    assert main(["--compare", str(good), str(bad)]) == 2
    message = capsys.readouterr().err
    assert str(bad) in message and field in message and "Traceback" not in message
    assert len(message) < 2000  # a huge value is described, not printed
    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", str(tmp_path))
    assert main(["--list-runs"]) == 0
    out, err_text = capsys.readouterr()
    assert "good.json" in out and "bad.json" not in out
    assert "bad.json" in err_text and field in err_text


def test_matrix_rows_and_cells_are_checked(tmp_path, base_docs):
    matrix = base_docs["matrix"]
    for where, value, field in [(("matrix", "rows"), [{"task": ["train"]}], "matrix.rows[0].task"),
                                (("matrix", "cells"), ["cell"], "matrix.cells[0]"),
                                (("matrix", "engines"), "pytorch", "matrix.engines")]:
        path = _write(tmp_path, "m.json", _retyped(matrix, where, value))
        with pytest.raises(RunFileError, match=rf"m\.json: {re.escape(field)}"):
            load_run(path)


def test_legitimate_null_figures_are_accepted(tmp_path, base_docs):
    """What our writer itself may write (unknown figures, no speed-up) stays readable."""
    doc = copy.deepcopy(base_docs["run"])
    doc["started"] = None
    doc["comparison"]["speedup"] = None
    doc["comparison"]["parity"]["max_rel_loss_diff"] = None
    for e in doc["engines"].values():
        e["summary"] = {k: None for k in e["summary"]}
        e["phases_s"] = {k: None for k in e["phases_s"]}
        e["steps"][2]["loss"] = None
    accepted = load_run(_write(tmp_path, "nulls.json", doc))
    _assert_readers_hold(accepted, tmp_path / "nulls.json", [base_docs["run"]])
    ci_nulls = _retyped(base_docs["run"], ("comparison", "speedup", "ci95"), [None, None])
    accepted = load_run(_write(tmp_path, "ci.json", ci_nulls))
    assert verdict_text(accepted).endswith("(95% CI ?-?)")


# -- odd files in the folder or on the command line --------------------------------------------

def _odd_files(folder: Path) -> dict[str, str]:
    """Make one file of each odd class in `folder`; returns name -> what the warning says."""
    made = {}
    if os.path.exists("/dev/zero"):
        (folder / "zero.json").symlink_to("/dev/zero")
        made["zero.json"] = "character device"
    os.mkfifo(folder / "fifo.json")
    made["fifo.json"] = "FIFO"
    (folder / "dir.json").mkdir()
    made["dir.json"] = "directory"
    (folder / "empty.json").write_bytes(b"")
    made["empty.json"] = "empty file"
    (folder / "blank.json").write_bytes(b" \n\t\n")
    made["blank.json"] = "empty file"
    (folder / "bytes.json").write_bytes(b"\x00\xff\xfe garbage \x80")
    made["bytes.json"] = "not UTF-8"
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    made["deep.json"] = "corrupt JSON"
    (folder / "digits.json").write_text('{"schema": 1, "started": ' + "9" * 5000 + "}")
    made["digits.json"] = "corrupt JSON"
    (folder / "dangling.json").symlink_to(folder / "nowhere")
    made["dangling.json"] = "cannot read"
    return made


def _in_thread(fn, *args):
    """Run fn(*args) in a thread; fail (instead of hanging the suite) if it blocks."""
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["value"] = fn(*args)
        except BaseException as err:  # noqa: BLE001 - handed to the test
            result["error"] = err

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), f"{fn.__name__} blocked on an odd file"
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_odd_files_are_skipped_without_blocking(tmp_path, base_docs, capsys, monkeypatch):
    made = _odd_files(tmp_path)
    good = save_run(base_docs["run"], tmp_path)
    listing = _in_thread(list_runs, tmp_path)
    assert [r.path for r in listing.runs] == [good]
    assert len(listing.warnings) == len(made)
    for name, reason in made.items():
        [warning] = [w for w in listing.warnings if f"/{name}:" in w]
        assert reason in warning, warning
    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", str(tmp_path))
    capsys.readouterr()
    assert _in_thread(main, ["--list-runs"]) == 0
    out, err = capsys.readouterr()
    assert good.name in out and "(1 runs in" in out
    assert all(name in err for name in made)


@pytest.mark.parametrize("name", ["zero.json", "fifo.json", "dir.json", "empty.json",
                                  "bytes.json", "deep.json", "digits.json", "dangling.json"])
def test_compare_refuses_each_odd_file_with_exit_2(tmp_path, base_docs, capsys, name):
    made = _odd_files(tmp_path)
    if name not in made:
        pytest.skip(f"{name}: not on this system")
    good = save_run(base_docs["run"], tmp_path)
    odd = tmp_path / name
    capsys.readouterr()
    assert _in_thread(main, ["--compare", str(good), str(odd)]) == 2
    err = capsys.readouterr().err
    assert str(odd) in err and made[name] in err and "Traceback" not in err


def test_size_cap_holds_also_when_the_size_lies(tmp_path, base_docs, monkeypatch):
    from engines.results import store

    path = save_run(base_docs["run"], tmp_path)
    monkeypatch.setattr(store, "MAX_FILE_BYTES", 1000)
    with pytest.raises(RunFileError, match="too large"):
        load_run(path)
    if os.path.exists("/proc/self/maps"):  # says 0 bytes, holds more than the cap
        (tmp_path / "proc.json").symlink_to("/proc/self/maps")
        with pytest.raises(RunFileError, match="larger than"):
            load_run(tmp_path / "proc.json")


def test_byte_order_mark_is_accepted(tmp_path, base_docs):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(base_docs["run"]).encode())
    assert load_run(path)["engines"].keys() == base_docs["run"]["engines"].keys()
    assert [r.path for r in list_runs(tmp_path).runs] == [path]


def test_control_characters_in_a_file_name_are_escaped_in_messages(tmp_path):
    path = tmp_path / "\x1b]0;title\x07.json"
    path.write_text("{")
    message = str(pytest.raises(RunFileError, load_run, path).value)
    assert "\x1b" not in message and "\x07" not in message and "\\x1b]0;title" in message


def test_time_text_survives_any_value():
    for value in (1e300, -1e20, math.nan, math.inf, 10**400, None, "x", True):
        assert time_text(value) == "?"
    assert time_text(0.0, "%Y") in ("1970", "1969")


# -- writing: NaN anywhere still gives an export and a saved run --------------------------------

def test_write_json_writes_non_finite_numbers_as_null_without_changing_the_doc(tmp_path):
    doc = {"a": math.nan, "b": [1.0, math.inf, {"c": np.float32("nan"), "d": np.float64(-np.inf)}],
           "e": np.int64(3), "f": (np.float32(0.5), -math.inf), "g": np.array([1.0, np.nan]),
           "h": np.bool_(True), "ok": {"x": 1.5, "y": "text"}}
    before = copy.deepcopy(doc)
    inner = doc["b"][2]
    path = write_json(doc, tmp_path / "out.json")
    assert json.loads(path.read_text()) == {
        "a": None, "b": [1.0, None, {"c": None, "d": None}], "e": 3, "f": [0.5, None],
        "g": [1.0, None], "h": True, "ok": {"x": 1.5, "y": "text"}}
    assert math.isnan(doc["a"]) and doc["b"][2] is inner and math.isnan(inner["c"])
    assert repr(doc) == repr(before)  # the caller's document is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # atomic: no temporary left


def test_write_json_refuses_a_cycle_and_leaves_no_temporary(tmp_path):
    doc: dict[str, Any] = {"a": []}
    doc["a"].append(doc)
    with pytest.raises(ValueError, match="Circular"):
        write_json(doc, tmp_path / "out.json")
    assert list(tmp_path.iterdir()) == []


def test_a_run_whose_summary_holds_nan_is_still_exported_and_saved(tmp_path, monkeypatch):
    real_summary = document.engine_summary

    def summary_with_nan(es, batch_size):
        out = dict(real_summary(es, batch_size))
        out.update(median_step_s=math.nan, iqr_over_median=np.float32("inf"))
        return out

    monkeypatch.setattr(document, "engine_summary", summary_with_nan)
    runs = tmp_path / "runs"
    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", str(runs))
    export = tmp_path / "export.json"
    args = [a for a in RUN_ARGS if a != "--no-save"]
    assert main([*args, "--export", str(export)]) in (0, 1)
    [saved] = runs.glob("*.json")
    for path in (export, saved):
        doc = load_run(path)
        for e in doc["engines"].values():
            assert e["summary"]["median_step_s"] is None
            assert e["summary"]["iqr_over_median"] is None
    assert len(list_runs(runs).runs) == 1


# -- generated damage --------------------------------------------------------------------------

MARKUP = ["[/]", "[b]x[/i]", "\x1b]0;title\x07", "\x00", "\u202ertl", "", "\ud800", "\udcff.x"]
JUNK_SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e300, -1e20, 1e308, -0.0, 5e-324]),
    st.text(max_size=12), st.sampled_from(MARKUP),
    st.just("y" * 300_000),
)


def _nested(depth: int, leaf: Any, as_dict: bool) -> Any:
    for _ in range(depth):
        leaf = {"k": leaf} if as_dict else [leaf]
    return leaf


JUNK = st.one_of(
    JUNK_SCALARS,
    st.lists(JUNK_SCALARS, max_size=3),
    st.dictionaries(st.sampled_from(["name", "status", "ratio", "ci95", "faster", "text",
                                     "level", "count", "", "x" * 300]),
                    JUNK_SCALARS, max_size=3),
    st.builds(_nested, st.integers(1, 60), JUNK_SCALARS, st.booleans()),
)


def _paths(node: Any, prefix: tuple = (), out: list | None = None) -> list[tuple]:
    """Every path into a document (lists: the first, second and last item only)."""
    out = [] if out is None else out
    if isinstance(node, dict):
        for k, v in node.items():
            out.append((*prefix, k))
            _paths(v, (*prefix, k), out)
    elif isinstance(node, list):
        for i in sorted({0, 1, len(node) - 1} & set(range(len(node)))):
            out.append((*prefix, i))
            _paths(node[i], (*prefix, i), out)
    return out


# Paths that readers look at but a base document may not hold.
READER_PATHS = [
    ("kind",), ("repeats",), ("repeats", "count"), ("matrix",), ("matrix", "rows"),
    ("matrix", "cells"), ("matrix", "engines"), ("comparison", "speedup"),
    ("comparison", "speedup", "ci95"), ("fairness", "warnings"), ("environment", "gpus"),
    ("engines", "jax"), ("engines", "x" * 300), ("engines", "\ud800"), ("started",),
    ("schema",), ("scenario", "name"), ("environment", "versions", "torch"),
]


def _mutate(doc: Any, path: tuple, op: str, value: Any) -> Any:
    """Delete or set what `path` names, creating missing objects on the way."""
    if not path:
        return value if op == "set" else {}
    node = doc
    for key in path[:-1]:
        if isinstance(node, dict):
            if not isinstance(node.get(key), (dict, list)):
                node[key] = {}
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node) \
                and isinstance(node[key], (dict, list)):
            node = node[key]
        else:
            return doc
    last = path[-1]
    if isinstance(node, dict):
        if op == "delete":
            node.pop(last, None)
        else:
            node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        if op == "delete":
            del node[last]
        else:
            node[last] = value
    return doc


@st.composite
def damaged_files(draw, docs: dict[str, dict[str, Any]]) -> tuple[bytes, str]:
    """The bytes of a damaged saved run, and which base document it came from."""
    base = draw(st.sampled_from(sorted(docs)))
    doc = copy.deepcopy(docs[base])
    paths = _paths(doc) + READER_PATHS
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["set", "set", "delete"]))
        doc = _mutate(doc, path, op, draw(JUNK) if op == "set" else None)
    if draw(st.sampled_from(range(40))) == 20:
        doc = draw(JUNK)  # not even an object
    data = json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")
    damage = draw(st.sampled_from(["none"] * 6 + ["cut", "insert", "bom", "bytes"]))
    if damage == "cut":
        data = data[:draw(st.integers(0, len(data)))]
    elif damage == "insert":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    elif damage == "bom":
        data = b"\xef\xbb\xbf" + data
    elif damage == "bytes":
        data = draw(st.binary(max_size=64))
    return data, base


def _check_one_file(data: bytes, base_docs: dict[str, dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.json"
        path.write_bytes(data)
        try:
            doc = load_run(path)
        except RunFileError as err:
            assert str(err).startswith(f"{path}: ")
            assert len(str(err)) < 2000
            doc = None
        if doc is not None:
            _assert_readers_hold(doc, path, [base_docs["run"], base_docs["matrix"]])
        listing = list_runs(folder)
        assert len(listing.runs) + len(listing.warnings) == 1
        assert (len(listing.runs) == 1) == (doc is not None)
        assert all(w.startswith(f"skipped {path}: ") for w in listing.warnings)


FUZZ = settings(max_examples=800, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(data=st.data())
def test_damaged_documents_are_read_or_refused(base_docs, data):
    raw, _ = data.draw(damaged_files(base_docs))
    _check_one_file(raw, base_docs)


@pytest.mark.slow
@settings(FUZZ, max_examples=3000)
@given(data=st.data())
def test_damaged_documents_are_read_or_refused_long(base_docs, data):
    raw, _ = data.draw(damaged_files(base_docs))
    _check_one_file(raw, base_docs)


def test_fifo_is_refused_before_it_is_opened(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    with pytest.raises(RunFileError, match="FIFO"):
        _in_thread(load_run, fifo)
