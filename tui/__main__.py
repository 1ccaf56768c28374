"""`python -m tui` runs the same entry point as `fwcompare-tui`."""

from .entry import main

main()
