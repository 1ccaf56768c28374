"""Turn-taking: which engine may step now.

alternate (the default, paired measurement): engines take turns of equal measured time, in a
counterbalanced order: the first round runs them in their order, the next in reverse, and so
on (A B | B A | A B ...). Every turn of one engine has a neighbour turn of the other under the
same machine conditions (engines.pairing turns that into the speed-up's interval), and a
steady drift of the machine biases alternate pairs in opposite directions, so it cancels.
sequential: the first engine runs to the end, then the next.
parallel: everyone steps at once (contended, and labelled so).
"""

from __future__ import annotations

import threading


class Turnstile:
    """Decides which engine may step now (see the module docstring for the schedules)."""

    def __init__(self, names: list[str], schedule: str):
        self.order = list(names)
        self.schedule = schedule
        self.cond = threading.Condition()
        self.ready: set[str] = set()
        self.ended: set[str] = set()
        self.position = 0  # index into the endless counterbalanced sequence of turns
        self.last_stepped: str | None = None

    def _at(self, position: int) -> str:
        n = len(self.order)
        rnd, i = divmod(position, n)
        return self.order[i] if rnd % 2 == 0 else self.order[n - 1 - i]

    @property
    def holder(self) -> str | None:
        """The engine whose turn it is (None when every engine has ended)."""
        if not self.order or len(self.ended) >= len(self.order):
            return None
        return self._at(self.position)

    def _skip_ended(self) -> None:
        # At most two rounds away there is a pending engine, if there is one at all.
        for _ in range(2 * len(self.order)):
            if self._at(self.position) not in self.ended:
                return
            self.position += 1

    def _pending(self) -> list[str]:
        return [n for n in self.order if n not in self.ended]

    def mark_ready(self, name: str) -> None:
        """`name` is imported and built: it may step once everyone is."""
        with self.cond:
            self.ready.add(name)
            self.cond.notify_all()

    def mark_ended(self, name: str) -> None:
        """`name` takes no more turns."""
        with self.cond:
            self.ended.add(name)
            self._skip_ended()
            self.cond.notify_all()

    def wait_turn(self, name: str, cancel: threading.Event) -> bool:
        """Block until `name` may step; False if cancelled meanwhile.

        No engine steps before every engine is ready (imported and built), in any schedule:
        another engine's import would otherwise load the CPU during timed steps.
        """
        with self.cond:
            while not cancel.is_set():
                everyone_ready = all(n in self.ready for n in self._pending())
                if everyone_ready and (self.schedule == "parallel" or self.holder == name):
                    return True
                self.cond.wait(0.05)
            return False

    def took_turn(self, name: str) -> bool:
        """Record that `name` steps now; True when another engine stepped since its last turn
        (its first step is then a 'resume': caches and cores were someone else's)."""
        with self.cond:
            if self.schedule != "alternate":
                return False
            resumed = self.last_stepped not in (None, name)
            self.last_stepped = name
            return resumed

    def end_turn(self, name: str) -> None:
        """`name`'s turn is over: in the alternate schedule the next engine's begins."""
        with self.cond:
            if self.schedule == "alternate" and self.holder == name:
                self.position += 1
                self._skip_ended()
            self.cond.notify_all()
