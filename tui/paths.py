"""Platform directories: the user's scenario folder, the saved-runs folder and the data folder
(where measured matmul peaks are cached)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "fwcompare-tui"


def user_scenario_dir() -> Path:
    """Where users put their own scenario TOML files (FWCOMPARE_SCENARIO_DIR overrides)."""
    override = os.environ.get("FWCOMPARE_SCENARIO_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP)) / "scenarios"


def runs_dir() -> Path:
    """Where finished runs are saved (FWCOMPARE_RUNS_DIR overrides)."""
    override = os.environ.get("FWCOMPARE_RUNS_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP)) / "runs"


def data_dir() -> Path:
    """The platform's user data folder for this app (FWCOMPARE_DATA_DIR overrides)."""
    override = os.environ.get("FWCOMPARE_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP))


def peak_cache_dir() -> Path:
    """Where each machine's measured matmul peaks are cached (engines.efficiency.PeakCache)."""
    return data_dir() / "peaks"


def calibration_file() -> Path:
    """This machine's last calibration of the speed-up interval (benchmarks/
    bench_calibration.py writes it; results documents quote it). FWCOMPARE_CALIBRATION
    overrides."""
    override = os.environ.get("FWCOMPARE_CALIBRATION")
    return Path(override) if override else data_dir() / "calibration.json"
