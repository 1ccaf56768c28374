"""Saved runs: atomic saving, listing with corrupt and foreign files present, loading."""

from __future__ import annotations

import json
import os

import pytest

from engines import Comparison, settings_for
from engines.results.document import build_results
from engines.results.store import RunFileError, list_runs, load_run, save_run
from scenarios import find, load_builtins
from tui.cli import main

FAKE = {"pytorch": "fake:pytorch", "tensorflow": "fake:tensorflow"}


@pytest.fixture(scope="module")
def fake_doc():
    scenario = find("mlp", load_builtins())
    settings = settings_for(scenario, steps=30, isolation="thread")
    state = Comparison(scenario, settings, FAKE, telemetry=False).run()
    return build_results(state)


def test_save_is_atomic_and_round_trips(tmp_path, fake_doc):
    path = save_run(fake_doc, tmp_path / "runs")
    assert path.parent == tmp_path / "runs" and path.suffix == ".json"
    assert "mlp-train-eager" in path.name
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporaries left
    again = save_run(fake_doc, tmp_path / "runs")
    assert again != path  # never overwrites an earlier run
    assert load_run(path)["engines"].keys() == fake_doc["engines"].keys()


def test_listing_skips_bad_files_with_warnings(tmp_path, fake_doc):
    runs = tmp_path / "runs"
    good = save_run(fake_doc, runs)
    older = dict(fake_doc, started=fake_doc["started"] - 3600)
    old = save_run(older, runs)
    (runs / "corrupt.json").write_text('{"schema": 1, "engines": {', encoding="utf-8")
    (runs / "foreign.json").write_text(json.dumps({"name": "package.json", "version": 3}))
    (runs / "list.json").write_text("[1, 2, 3]")
    (runs / "newer.json").write_text(json.dumps({**fake_doc, "schema": 99}))
    (runs / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (runs / "empty.json").write_text("")
    (runs / "folder.json").mkdir()
    (runs / ".half-written.json.tmp").write_text("{")  # an atomic write in progress
    (runs / "notes.txt").write_text("not a run")
    listing = list_runs(runs)
    assert [r.path for r in listing.runs] == [good, old]  # newest first
    assert len(listing.warnings) == 7
    text = "\n".join(listing.warnings)
    for name in ("corrupt.json", "foreign.json", "list.json", "newer.json", "binary.json",
                 "empty.json", "folder.json"):
        assert name in text
    assert "corrupt JSON" in text and "newer fwcompare" in text
    info = listing.runs[0]
    assert info.scenario == "mlp" and info.task == "train" and info.mode == "eager"
    assert info.status == "done" and "faster" in info.verdict
    assert info.engines == ("pytorch", "tensorflow")


def test_missing_folder_is_an_empty_listing(tmp_path):
    listing = list_runs(tmp_path / "nowhere")
    assert listing.runs == [] and listing.warnings == []


def test_unreadable_file_is_a_warning(tmp_path, fake_doc):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    runs = tmp_path / "runs"
    path = save_run(fake_doc, runs)
    path.chmod(0)
    listing = list_runs(runs)
    assert listing.runs == [] and "cannot read" in listing.warnings[0]


def test_load_run_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(RunFileError, match="corrupt JSON"):
        load_run(bad)
    with pytest.raises(RunFileError, match="cannot read"):
        load_run(tmp_path / "missing.json")


def test_cli_saves_every_finished_run_and_lists_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", str(tmp_path / "runs"))
    assert main(["--no-tui", "--fake", "--scenario", "regression", "--steps", "30",
                 "--in-process", "--no-telemetry"]) == 0
    assert main(["--no-tui", "--fake", "--scenario", "mlp", "--steps", "30", "--in-process",
                 "--no-telemetry", "--no-save"]) == 0
    saved = list((tmp_path / "runs").glob("*.json"))
    assert len(saved) == 1 and "regression" in saved[0].name
    (tmp_path / "runs" / "junk.json").write_text("}{")
    capsys.readouterr()
    assert main(["--list-runs"]) == 0
    out, err = capsys.readouterr()
    assert "regression" in out and "train/eager" in out and "(1 runs in" in out
    assert "skipped" in err and "junk.json" in err
