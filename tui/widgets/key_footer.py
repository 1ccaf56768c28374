"""KeyFooter: Textual's Footer, rebuilt only when the keys it shows change.

Textual's Footer recomposes (removes and mounts a widget per key) on every bindings update of
its screen, and a screen publishes one for each focus change, screen-stack change and reactive
declared with `bindings=True`, mostly with the same keys. At the picker's start-up that was
three to five rebuilds of the same six keys, 20 ms of its first frame (the app run headless
until its second refresh: 0.112 s -> 0.091 s, median of four). This one compares what it would show (key, label, action,
enabled, tooltip) with what it shows and rebuilds only on a difference, at most once per
refresh.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

Shown = tuple[tuple[str, str, str, bool, str], ...]


class KeyFooter(Footer):
    """A Footer that skips rebuilds which would show the same keys."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: Shown | None = None
        self._rebuild_pending = False

    def _keys_to_show(self) -> Shown:
        return tuple((binding.key, binding.description, binding.action, enabled, tooltip or "")
                     for _node, binding, enabled, tooltip
                     in self.screen.active_bindings.values() if binding.show)

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True  # what Footer.bindings_changed sets before composing
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return
        if not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        if not self.is_attached:
            return
        shown = self._keys_to_show()
        if shown != self._shown:
            self._shown = shown
            await self.recompose()
