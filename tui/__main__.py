"""`python -m tui` runs the same entry point as `fwcompare-tui`."""

from .cli import console_main

console_main()
