"""Shared test set-up: keep every test away from the user's real folders."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_user_folders(tmp_path_factory):
    # Saved runs, user scenarios and cached peaks go to throw-away folders, also for CLI subprocesses
    # (they inherit the environment).
    mp = pytest.MonkeyPatch()
    mp.setenv("FWCOMPARE_RUNS_DIR", str(tmp_path_factory.mktemp("runs")))
    mp.setenv("FWCOMPARE_SCENARIO_DIR", str(tmp_path_factory.mktemp("user-scenarios")))
    mp.setenv("FWCOMPARE_CALIBRATION",
              str(tmp_path_factory.mktemp("calibration") / "calibration.json"))
    mp.setenv("FWCOMPARE_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    yield
    mp.undo()
