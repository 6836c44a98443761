"""The call budget, counted in one place.

A request is charged once per run, the first time the search needs it, whether or not the
response cache already holds it: a run then takes the same path on a cold or a warm cache.
"""

from __future__ import annotations

from collections.abc import Iterable


class OverBudget(Exception):
    """The next step would charge more than the budget allows; nothing was charged."""


class Budget:
    def __init__(self, limit: int, *, charged: int = 0, seen: Iterable[str] = ()) -> None:
        self.limit, self.charged, self.seen = limit, charged, set(seen)

    def cost(self, keys: Iterable[str]) -> int:
        """What charging these request keys would add."""
        return len(set(keys) - self.seen)

    def charge(self, keys: Iterable[str]) -> int:
        """Charge the keys not charged before; all or nothing. Returns the calls charged."""
        new = set(keys) - self.seen
        if self.charged + len(new) > self.limit:
            raise OverBudget
        self.charged += len(new)
        self.seen |= new
        return len(new)

    @property
    def left(self) -> int:
        return self.limit - self.charged
