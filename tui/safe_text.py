"""Text from outside the program, made safe to show: never markup, no terminal control.

Scenario names and descriptions, saved-run contents, engine error messages, warnings and paths
are data. Everything the command line prints goes through `printable` (tui.terminal does it
for every line); everything the app shows of them is a rich Text (`plain`), which Textual shows
as it is, or, where Textual parses markup whatever it is given (the command palette),
`escape_markup`. Pure functions; no Textual.
"""

from __future__ import annotations

import re

from rich.text import Text

# Characters a terminal acts on or that cannot be shown: C0 controls but tab and newline (which
# our own tables and reports use; `newlines=False` escapes them too), DEL, C1 controls (0x9b is
# a one-byte escape sequence on some terminals), the bidirectional embeddings, overrides and
# isolates (they reorder what follows on the line), and lone surrogates (undecodable bytes in a
# file name; an encoder raises on them).
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_IN_TEXT = re.compile(f"[{_UNSAFE}]")
_UNSAFE_IN_LINE = re.compile(f"[{_UNSAFE}\t\n]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: object, newlines: bool = True) -> str:
    """`text` with every control character shown as an escape (ESC as '\\x1b'), so nothing in
    it can move the cursor, set the terminal's title or reorder a line. `newlines=False`: a
    value that must stay on one line (a name in a table) gets newline and tab escaped too."""
    text = str(text)
    pattern = _UNSAFE_IN_TEXT if newlines else _UNSAFE_IN_LINE
    return pattern.sub(_escaped, text)


def plain(text: object, style: str = "") -> Text:
    """`text` as a rich Text: shown as it is (never parsed as markup), controls escaped."""
    return Text(printable(text), style=style)


def escape_markup(text: object) -> str:
    """`text` for an API that parses Textual markup whatever it is given: every '[' escaped,
    so the markup parser shows it as it is (controls escaped too)."""
    return printable(text).replace("[", "\\[")
