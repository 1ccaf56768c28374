"""AppHeader: Textual's Header, safe to remove right after it mounts.

Header (Textual 8.2) updates its title from four watchers whose first call is queued at
mount; they catch NoScreen but not NoMatches. A screen closed before they run (the app
leaving on Ctrl-C within a tenth of a second of a screen opening: CI saw it) has already
removed the header's title widget, and the app ended with a NoMatches traceback instead of
its exit code. These watchers catch both; nothing else differs.
"""

from __future__ import annotations

from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.events import Mount
from textual.widgets import Header
from textual.widgets._header import HeaderTitle  # the title widget Header composes


class AppHeader(Header):
    """The app's header (its icon, no clock), whose title updates do nothing once it is being
    removed."""

    def __init__(self) -> None:
        super().__init__(show_clock=False, icon="≋")

    def _on_mount(self, event: Mount) -> None:
        event.prevent_default()  # instead of Header._on_mount (same watchers, unguarded)

        async def set_title() -> None:
            try:
                self.query_one(HeaderTitle).update(self.format_title())
            except (NoScreen, NoMatches):
                pass  # the header is being removed with its screen

        for obj, attribute in ((self.app, "title"), (self.app, "sub_title"),
                               (self.screen, "title"), (self.screen, "sub_title")):
            self.watch(obj, attribute, set_title)
