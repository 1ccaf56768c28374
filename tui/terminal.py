"""Writing to the terminal: every line the command line prints goes through `say`.

Two promises, kept in one place. Nothing from outside the program reaches the terminal as a
control sequence (tui.safe_text.printable). And a closed output (`fwcompare-tui ... | head`)
never stops a run: the first write that finds the reader gone points that stream at
/dev/null, and the run, its export and its exit code go on as if it had been read.
"""

from __future__ import annotations

import os
import sys
import weakref
from typing import TextIO

from .safe_text import printable

_closed: weakref.WeakSet = weakref.WeakSet()  # streams whose reader went away


def say(text: object = "", file: TextIO | None = None, *, end: str = "\n",
        flush: bool = False, raw: str = "") -> None:
    """Print `text` (made printable) to `file` (default stdout). `raw` is written before it as
    it is: our own control sequences (a progress line's carriage return), never data."""
    stream = file if file is not None else sys.stdout
    if stream is None or stream in _closed:
        return
    try:
        stream.write(raw + printable(text) + end)
        if flush:
            stream.flush()
    except BrokenPipeError:
        reader_gone(stream)
    except ValueError:  # the stream itself was closed (I/O operation on closed file)
        _closed.add(stream)


def reader_gone(stream: TextIO) -> None:
    """The reader of `stream` went away: write its further output (and what is still in its
    buffer, flushed at exit) to /dev/null, so neither a later write nor Python's exit raises."""
    _closed.add(stream)
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return  # not a file (a test's StringIO): nothing is flushed at exit either
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


def flush_output(stream: TextIO | None = None) -> None:
    """Flush `stream` (default stdout) at the end of a command, where a reader that went away
    would otherwise turn Python's own final flush into an error message and exit code 120."""
    stream = stream if stream is not None else sys.stdout
    if stream is None or stream in _closed:
        return
    try:
        stream.flush()
    except BrokenPipeError:
        reader_gone(stream)
    except ValueError:
        pass


def terminal_width(stream: TextIO, default: int = 80) -> int:
    """Columns of the terminal `stream` writes to (default when it is not one)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return default
