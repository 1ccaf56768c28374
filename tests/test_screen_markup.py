"""Strings from files and engines on screen: shown as text, never parsed as markup, and never a
control sequence for the terminal. Fed through the picker (list, detail, filter, palette),
notifications, the dashboard (banner, an engine's error), --snapshot, the saved-runs screen and
the side-by-side comparison."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.text import Text
from textual.content import Content

from engines import Comparison
from scenarios import ScenarioError
from tui.safe_text import escape_markup, plain, printable
from tui.testing import (
    Notifications,
    app_for,
    known_run_docs,
    run_complete,
    screen_text,
    settle,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
MLP = (ROOT / "scenarios/builtin/mlp.toml").read_text()

# Markup Textual and Rich would act on (or choke on), and sequences a terminal would act on.
MARKUP = ["[/]", "[b]x[/i]", "[link=https://example.com]y[/link]", "[@click=app.quit]q[/]",
          "a\\[b]c", "[$accent]v", "[red on blue]w"]
CONTROL = ["\x1b]0;PWNED\x07", "\x1b[2J\x1b[H", "\x9b31m", "\u202etxt.exe", "bell\x07\x08"]
HOSTILE = MARKUP + CONTROL
ESCAPE_CHARS = ("\x1b", "\x07", "\x9b", "\u202e", "\x08")


def visible(text: str) -> str:
    """How a hostile string must read on screen: itself, controls escaped."""
    return printable(text, newlines=False)


def assert_no_control(text: str) -> None:
    for ch in ESCAPE_CHARS:
        assert ch not in text, f"{ch!r} reached the screen"


# -- the helpers themselves --------------------------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("[]\\/=@$ \n\t\x1b"),
               max_size=40))
def test_escaped_markup_reads_back_as_the_text_itself(text):
    assert Content.from_markup(escape_markup(text)).plain == printable(text)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_printable_leaves_no_control_character(text):
    out = printable(text)
    assert all(ch in "\n\t" or (ord(ch) >= 0x20 and not 0x7f <= ord(ch) <= 0x9f) for ch in out)
    assert "\n" not in printable(text, newlines=False)
    out.encode("utf-8")  # lone surrogates (undecodable file names) are escaped too
    assert printable(out) == out  # escaping is done once: printable text stays as it is


def test_printable_shows_what_was_escaped():
    assert printable("\x1b]0;x\x07") == "\\x1b]0;x\\x07"
    assert printable("a\u202eb") == "a\\u202eb"
    assert printable("name\nnext", newlines=False) == "name\\x0anext"
    assert isinstance(plain("[/]"), Text) and plain("[/]").plain == "[/]"


# -- the picker ------------------------------------------------------------------------------

@pytest.fixture
def hostile_folder(tmp_path, monkeypatch):
    """The user's scenario folder with one scenario per hostile string as its name (and in its
    description), plus a broken file whose name is markup."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for i, text in enumerate(HOSTILE):
        body = MLP.replace('name = "mlp"', f"name = {json.dumps(text)}")
        body = body.replace('description = "MLP', f"description = {json.dumps(text)[:-1]} MLP")
        (folder / f"s{i}.toml").write_text(body, encoding="utf-8")
    (folder / "[b]broken[i].toml").write_text("name = [/]\n", encoding="utf-8")
    monkeypatch.setenv("FWCOMPARE_SCENARIO_DIR", str(folder))
    return folder


async def test_the_picker_shows_names_descriptions_and_problems_as_text(hostile_folder):
    app = app_for("--no-telemetry", "--in-process", "--steps", "20")
    assert app.problems, "the broken file is reported"
    notes = Notifications()
    async with app.run_test(size=(140, 45), message_hook=notes, notifications=True) as pilot:
        await settle(pilot)
        for text in HOSTILE:
            app.picker.select(text)
            await settle(pilot, 1)
            shown = screen_text(app)
            assert visible(text) in shown  # the list, the detail's title and description
            assert_no_control(app.export_screenshot())
        # The notification about the broken file names it as it is.
        assert any("[b]broken[i].toml" in n for n in notes)
        # Filter by a bracket; then the command palette lists "Run [/]".
        await pilot.press("slash", *"[/", "enter")
        await settle(pilot)
        assert visible("[/]") in screen_text(app)
        await pilot.press("escape", "ctrl+p")
        await settle(pilot)
        await pilot.press(*"run [")
        await settle(pilot, 5)
        assert "Run [/]" in screen_text(app)
        await pilot.press("escape")


async def test_a_run_of_a_hostile_scenario_shows_its_name_and_an_engine_error_as_text(
        hostile_folder):
    hostile_error = "[/] boom [b]x[/i] \x1b]0;PWNED\x07"

    def failing(scenario, settings, engines, telemetry=True):
        comp = Comparison(scenario, settings, engines, telemetry=False)
        finish = comp.state.finish

        def with_hostile_error(name, status, error=None):
            finish(name, status, hostile_error if status == "failed" else error)

        comp.state.finish = with_hostile_error  # type: ignore[method-assign]
        return comp

    app = app_for("--no-telemetry", "--in-process", "--steps", "30", "--fault",
                  "tensorflow=error@5", comparison_factory=failing)
    async with app.run_test(size=(140, 45)) as pilot:
        await settle(pilot)
        app.picker.select("[b]x[/i]")
        await settle(pilot, 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: run_complete(app), timeout=30)
        await settle(pilot)
        shown = screen_text(app)
        assert visible("[b]x[/i]") in shown  # the banner
        assert "[/] boom [b]x[/i] \\x1b]0;PWNED\\x07" in shown  # the engine's error
        assert_no_control(app.export_screenshot())
        # The export dialog's default file name keeps only safe characters.
        assert "/" not in Path(app.screen.default_export_path()).name.replace("[", "")


@pytest.mark.slow
def test_snapshot_of_a_hostile_scenario(tmp_path):
    text = "[b]x[/i] \x1b]0;PWNED\x07 [/]"
    path = tmp_path / "hostile.toml"
    path.write_text(MLP.replace('name = "mlp"', f"name = {json.dumps(text)}"), encoding="utf-8")
    svg = tmp_path / "s.svg"
    r = subprocess.run([sys.executable, "-m", "tui", "--fake", "--scenario-file", str(path),
                        "--steps", "20", "--snapshot", str(svg), "--no-save", "--no-telemetry"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    picture = svg.read_text(encoding="utf-8")
    assert_no_control(picture + r.stdout + r.stderr)
    assert "[b]x[/i]" in picture.replace("&#160;", " ")


# -- saved runs and two runs side by side ----------------------------------------------------

@pytest.fixture
def hostile_runs(tmp_path, monkeypatch):
    """Two saved runs whose scenario, machine and settings hold markup and escape sequences,
    and a file whose name is markup (a warning line)."""
    folder = tmp_path / "runs"
    folder.mkdir()
    a, b = known_run_docs(steps=20)
    for doc, text in ((a, "[/] \x1b]0;PWNED\x07"), (b, "[b]x[/i] [link=https://e.org]y")):
        doc["scenario"]["name"] = text
        doc["scenario"]["description"] = text
        doc["environment"]["cpu"] = text
        doc["environment"]["platform"] = text
    for i, doc in enumerate((a, b)):
        (folder / f"run{i}.json").write_text(json.dumps(doc), encoding="utf-8")
    (folder / "[b]broken[i].json").write_text("{not json", encoding="utf-8")
    monkeypatch.setenv("FWCOMPARE_RUNS_DIR", str(folder))
    return folder


async def test_saved_runs_and_the_comparison_show_file_contents_as_text(hostile_runs):
    from tui.screens.run_compare import CompareScreen
    from tui.screens.runs import RunsScreen

    app = app_for("--no-telemetry", prewarm=False)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.loaded)
        await settle(pilot)
        shown = screen_text(app)
        assert "[b]broken[i].json" in shown  # the warning line
        assert visible("[/] \x1b]0;PWNED\x07")[:12] in shown
        assert_no_control(app.export_screenshot())
        await pilot.press("space", "down", "space", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await settle(pilot)
        shown = screen_text(app)
        assert "[b]x[/i]" in shown and "\\x1b]0;PWNED" in shown
        assert_no_control(app.export_screenshot())
        await pilot.press("d")  # only the rows that differ
        await settle(pilot)
        assert_no_control(app.export_screenshot())


def test_list_and_list_runs_print_no_control_sequence(hostile_folder, hostile_runs, capsys):
    from tui.cli import main

    assert main(["--list"]) == 0
    out = capsys.readouterr()
    assert_no_control(out.out + out.err)
    assert "\\x1b]0;PWNED\\x07" in out.out and "[b]x[/i]" in out.out
    assert "[b]broken[i].toml" in out.err  # the broken file, as a warning
    assert main(["--list-runs"]) == 0
    out = capsys.readouterr()
    assert_no_control(out.out + out.err)
    assert "[b]broken[i].json" in out.err


def test_an_error_message_prints_no_control_sequence(capsys):
    from tui.cli import main

    assert main(["--no-tui", "--scenario", "\x1b]0;PWNED\x07"]) == 2
    err = capsys.readouterr().err
    assert_no_control(err)
    assert "\\x1b]0;PWNED\\x07" in err


def test_a_headless_run_prints_no_control_sequence(hostile_folder, tmp_path, capsys):
    from tui.cli import main

    export = tmp_path / "r.json"
    code = main(["--no-tui", "--fake", "--in-process", "--no-telemetry", "--no-save",
                 "--scenario", "\x1b]0;PWNED\x07", "--steps", "20", "--fault",
                 "tensorflow=error@4", "--export", str(export)])
    assert code == 1
    out = capsys.readouterr()
    assert_no_control(out.out + out.err)
    assert "PWNED" in out.out
    # The export keeps the name as it is: it is data, escaped only where it is shown.
    assert json.loads(export.read_text())["scenario"]["name"] == "\x1b]0;PWNED\x07"
    assert os.path.exists(export)


async def test_notifications_are_plain_text():
    problems = (ScenarioError("[/] expected [b]x[/i] \x1b[2J", source="/tmp/[link=x]y.toml"),)
    app = app_for("--no-telemetry", prewarm=False, problems=problems)
    notes = Notifications()
    # Toasts are drawn (run_test leaves them out unless asked): a markup error would raise.
    async with app.run_test(size=(120, 40), message_hook=notes, notifications=True) as pilot:
        await settle(pilot)
        app.notify("[/] direct [b]x[/i]", title="[/]")
        await settle(pilot)
        shown = screen_text(app)
        assert "[/] expected [b]x[/i]" in shown and "[/] direct [b]x[/i]" in shown
        assert_no_control(app.export_screenshot())
