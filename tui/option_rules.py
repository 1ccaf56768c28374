"""Rules about the command line as a whole: which options each use of the program reads, values
that are empty, and whether an output path can really be written. Used by tui.options.

Every option is either used by what the line asks for, or named in a message: refused (exit 2)
when the line runs engines (a run is long; finding out afterwards costs it), a warning when it
only lists or compares. Nothing on the line is silently ignored.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from .limits import MAX_SIZE, MIN_SIZE


class OptionError(ValueError):
    """An option the line cannot honour (tui.options turns it into BadInput: exit 2)."""


# What the line asks for, in the order argparse's options decide it (see `use_of`).
USES = ("list", "list-runs", "compare", "matrix", "headless", "snapshot", "app")
LISTING_USES = ("list", "list-runs", "compare")

# Options every run reads (headless, --matrix, the app, --snapshot).
_RUN = frozenset({
    "scenario", "scenario_file", "steps", "batch_size", "warmup_steps", "mode", "task",
    "schedule", "device", "threads", "engines", "in_process", "export", "no_telemetry", "fake",
    "fault", "aa", "gpu", "cudnn_autotune", "no_save", "stall_timeout", "precision",
    "measure_peak", "workers", "scale_batch", "input", "loader_workers",
})
OPTIONS_OF_USE: dict[str, frozenset[str]] = {
    "list": frozenset({"list", "scenario_file"}),
    "list-runs": frozenset({"list_runs"}),
    "compare": frozenset({"compare"}),
    "headless": _RUN | {"no_tui", "until_confident", "until_stable", "repeat", "scaling",
                        "loader_sweep"},
    # --matrix runs every task in every mode of --matrix-modes: --task and --mode are its own.
    "matrix": (_RUN - {"task", "mode"}) | {"no_tui", "matrix", "matrix_modes",
                                           "until_confident", "until_stable"},
    "snapshot": _RUN | {"snapshot", "size"},
    "app": _RUN,
}

_WHERE = {
    "list": "with --list (it lists the scenarios and exits)",
    "list-runs": "with --list-runs (it lists the saved runs and exits)",
    "compare": "with --compare (it shows two results files and exits)",
    "headless": "with --no-tui",
    "matrix": "with --matrix",
    "snapshot": "with --snapshot",
    "app": "in the interactive app",
}
# What to do instead, where there is something better to say than "remove it": by option, or
# by (use, option) where it depends on what the line asks for.
_HINTS = {
    "size": "it sets --snapshot's terminal size",
    "until_confident": "it runs headless: add --no-tui",
    "until_stable": "it runs headless: add --no-tui",
    "repeat": "it runs headless: add --no-tui",
    "scaling": "it runs headless: add --no-tui",
    "loader_sweep": "it runs headless: add --no-tui",
    "matrix_modes": "it chooses the modes of --matrix",
    "snapshot": "--no-tui and --snapshot are two ways to run: choose one",
    ("matrix", "repeat"): "--matrix and --repeat cannot be combined",
    ("matrix", "task"): "--matrix runs both tasks",
    ("matrix", "mode"): "--matrix runs every mode of --matrix-modes",
    ("matrix", "snapshot"): "--matrix runs headless",
    ("snapshot", "no_tui"): "--no-tui and --snapshot are two ways to run: choose one",
}


def flag(dest: str) -> str:
    """The option as typed: 'batch_size' -> '--batch-size'."""
    return "--" + dest.replace("_", "-")


def use_of(args: argparse.Namespace) -> str:
    """What the line asks for (one of USES); the first that applies wins."""
    if args.list:
        return "list"
    if args.list_runs:
        return "list-runs"
    if args.compare:
        return "compare"
    if args.matrix:
        return "matrix"
    if args.no_tui:
        return "headless"
    if args.snapshot is not None:
        return "snapshot"
    return "app"


def given_options(parser: argparse.ArgumentParser, argv: list[str] | None) -> frozenset[str]:
    """The options the line itself sets (not their defaults), by destination name. `parser`
    is a fresh copy of the program's parser (its defaults are switched off here)."""
    for action in parser._actions:  # noqa: SLF001 - argparse has no public list of actions
        action.default = argparse.SUPPRESS
    return frozenset(vars(parser.parse_known_args(argv)[0]))


def unused_options(use: str, given: Iterable[str]) -> list[str]:
    """A message for each option given that `use` does not read, in the order of USES'
    options."""
    used = OPTIONS_OF_USE[use]
    out = []
    for dest in sorted(given):
        if dest in used:
            continue
        hint = _HINTS.get((use, dest), _HINTS.get(dest))
        out.append(f"{flag(dest)} has no effect {_WHERE[use]}" + (f" ({hint})" if hint else ""))
    return out


def empty_values(args: argparse.Namespace, given: Iterable[str]) -> list[str]:
    """A message for each given option whose value (or one of whose values) is empty."""
    out = []
    for dest in sorted(given):
        value = getattr(args, dest, None)
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, str) and not v.strip() for v in values):
            out.append(f"{flag(dest)}: expected a value, got an empty one")
    return out


_SIZE = re.compile(r"(\d{1,6})[xX](\d{1,6})")


def parse_size(text: str) -> tuple[int, int]:
    """'120x40' -> (120, 40), within MIN_SIZE and MAX_SIZE; OptionError otherwise."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise OptionError(f"--size: expected WxH such as 120x40, got {text!r}")
    w, h = int(m.group(1)), int(m.group(2))
    if w < MIN_SIZE[0] or h < MIN_SIZE[1]:
        raise OptionError(f"--size: at least {MIN_SIZE[0]}x{MIN_SIZE[1]}, got {text!r}")
    if w > MAX_SIZE[0] or h > MAX_SIZE[1]:
        raise OptionError(f"--size: at most {MAX_SIZE[0]}x{MAX_SIZE[1]}, got {text!r}")
    return w, h


def check_output_path(path: str, option: str, suffix: str) -> None:
    """Refuse a path the end of the run could not write, before anything runs.

    Checked the way the results are written (tui.snapshot, engines.results.document): a new
    file next to the target, then a rename over it. So the folder must exist and take a new
    file (one is created and removed here), and a target that exists must be a regular file we
    may write (not a folder, a device or an immutable file). The end of the run can still meet
    a full disk: that is reported then, and the results are kept (tui.run_end).
    """
    if not path.lower().endswith(suffix):
        raise OptionError(f"{option}: expected a path ending in {suffix}, got {path!r}")
    target = Path(os.path.abspath(path))
    folder = target.parent
    if not folder.is_dir():
        raise OptionError(f"{option}: folder {str(folder)!r} does not exist")
    if target.exists():
        mode = target.stat().st_mode
        if stat.S_ISDIR(mode):
            raise OptionError(f"{option}: {path!r} is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise OptionError(f"{option}: {path!r} exists and is not a regular file")
        if not os.access(target, os.W_OK):
            raise OptionError(f"{option}: {path!r} exists and cannot be replaced (read-only or "
                              f"immutable)")
    probe = folder / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OptionError(f"{option}: cannot write in {str(folder)!r}: "
                          f"{err.strerror or err}") from None
