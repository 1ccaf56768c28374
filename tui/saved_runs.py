"""What the saved-runs screens show: table cells, marks, warnings. Pure logic, no Textual.

Everything read from a saved file is data: cells are rich Texts of printable text (never
markup, never a control sequence).

The screens (tui.screens.runs, tui.screens.run_compare) list `engines.archive.list_runs()`,
let the user mark two runs A and B, and show `engines.archive.compare_runs(A, B)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text

from engines.registry import engine_label
from engines.results.diff import CompareRow
from engines.results.store import RunInfo

from .safe_text import plain, printable

MARK_NAMES = ("A", "B")
STATUS_STYLE = {"done": "green", "failed": "bold red", "unavailable": "bold red",
                "cancelled": "yellow"}
RUN_COLUMNS = (("mark", ""), ("started", "started"), ("scenario", "scenario"),
               ("what", "task/mode"), ("device", "device"), ("steps", "steps"),
               ("status", "status"), ("verdict", "verdict"))


class RunMarks:
    """Up to two marked runs, in the order marked: the first is A, the second B.

    Marking a third run drops the oldest mark, so the last two marked are compared.
    """

    def __init__(self) -> None:
        self.paths: list[str] = []

    def toggle(self, path: str) -> None:
        """Mark `path`, or unmark it when it is marked."""
        if path in self.paths:
            self.paths.remove(path)
        else:
            self.paths.append(path)
            del self.paths[: -len(MARK_NAMES)]

    def mark_of(self, path: str) -> str:
        """'A', 'B' or '' for `path`."""
        return MARK_NAMES[self.paths.index(path)] if path in self.paths else ""

    def pair(self, cursor: str | None) -> tuple[str, str] | None:
        """The two runs to compare: both marks, or the one mark (A) and the run under the
        cursor (B); None when that does not make two different runs."""
        if len(self.paths) == 2:
            return self.paths[0], self.paths[1]
        if len(self.paths) == 1 and cursor and cursor != self.paths[0]:
            return self.paths[0], cursor
        return None

    def keep_only(self, paths: set[str]) -> None:
        """Forget marks on runs no longer listed (after a reload)."""
        self.paths = [p for p in self.paths if p in paths]


def what_text(info: RunInfo) -> str:
    """'train/eager', 'infer/xla x3' or 'matrix'."""
    if info.kind == "matrix":
        return "matrix"
    return f"{info.task}/{info.mode}" + (f" x{info.repeats}" if info.repeats else "")


def run_cells(info: RunInfo, mark: str) -> tuple[Text, ...]:
    """One row of the runs table, in RUN_COLUMNS order."""
    verdict_style = "red" if "PARITY FAILED" in info.verdict else ""
    return (
        Text(mark, "bold reverse" if mark else ""),
        plain(info.started_text),
        plain(info.scenario, "bold"),
        plain(what_text(info)),
        plain(info.device),
        Text(f"{info.steps:,}" if info.steps is not None else "—", justify="right"),
        plain(info.status, STATUS_STYLE.get(info.status, "yellow")),
        plain(info.verdict, verdict_style),
    )


def run_detail(info: RunInfo) -> Text:
    """The highlighted run's file, machine, schedule and engines, on one line."""
    engines = " vs ".join(engine_label(n) for n in info.engines) or "?"
    sep = (" · ", "dim")
    return Text.assemble(*(part if isinstance(part, tuple) else printable(part, newlines=False)
                           for part in (info.path.name, sep, info.host, sep, engines, sep,
                                        info.schedule)))


def short_warning(text: str, directory: Path) -> str:
    """A listing warning without the folder in front of every file name (printable)."""
    for prefix in (f"{directory}/", f"{directory.resolve()}/"):
        text = text.replace(prefix, "")
    return printable(text)


def warning_lines(warnings: list[str], directory: Path, limit: int = 3) -> list[str]:
    """At most `limit` warning lines, the last one saying how many more there are."""
    lines = [f"⚠ {short_warning(w, directory)}" for w in warnings]
    if len(lines) > limit:
        lines = lines[: limit - 1] + [f"⚠ … and {len(lines) - limit + 1} more skipped file(s)"]
    return lines


@dataclass(frozen=True)
class CompareLine:
    """One line of the side-by-side table: a section heading (row is None) or a row."""

    section: str
    row: CompareRow | None = None


def compare_lines(rows: list[CompareRow], only_differing: bool = False) -> list[CompareLine]:
    """Rows grouped under their section headings; sections with no rows left are dropped."""
    out: list[CompareLine] = []
    section = None
    for r in rows:
        if only_differing and not r.differs:
            continue
        if r.section != section:
            out.append(CompareLine(r.section))
            section = r.section
        out.append(CompareLine(r.section, r))
    return out


def compare_cells(line: CompareLine) -> tuple[Text, Text, Text, Text]:
    """(label, A, B, note) of one line; rows that differ are marked and highlighted."""
    if line.row is None:
        return (plain(line.section, "bold underline"), Text(""), Text(""), Text(""))
    r = line.row
    if r.differs:
        return (Text.assemble(("≠ ", "bold yellow"), (printable(r.label), "bold")),
                plain(r.a, "yellow"), plain(r.b, "bold yellow"), plain(r.note, "yellow"))
    return (plain("  " + r.label, "dim"), plain(r.a), plain(r.b), plain(r.note, "dim"))
