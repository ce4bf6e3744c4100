"""Flap detection: a device that changes state too often gets one 'flapping' alert instead of a
stream of up/down messages, and settles back once it has been stable for a whole window.

>>> f = FlapDetector(window=600.0, threshold=3)
>>> [f.record("r1", t) for t in (0.0, 10.0, 20.0)]
[False, False, True]
>>> f.settled(400.0), f.settled(620.0)
([], ['r1'])
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class FlapDetector:
    """Counts each subject's last ``threshold`` changes; flapping while they fit in ``window``."""

    def __init__(self, window: float, threshold: int) -> None:
        self.window = window
        self.threshold = max(threshold, 2)
        self._recent: dict[str, deque[float]] = {}
        self._flapping: dict[str, float] = {}  # subject -> time of its last change

    def record(self, subject: str, at: float) -> bool:
        """Note one change; True when this change starts a flapping episode."""
        if subject in self._flapping:
            self._flapping[subject] = at
            return False
        recent = self._recent.get(subject)
        if recent is None:
            recent = self._recent[subject] = deque(maxlen=self.threshold)
        recent.append(at)
        if len(recent) == self.threshold and at - recent[0] <= self.window:
            self._flapping[subject] = at
            recent.clear()
            return True
        return False

    def retune(self, window: float, threshold: int) -> None:
        """New settings (a reload); the changes counted so far are kept (the latest ones, if
        the threshold shrank)."""
        self.window = window
        threshold = max(threshold, 2)
        if threshold != self.threshold:
            self.threshold = threshold
            self._recent = {s: deque(r, maxlen=threshold) for s, r in self._recent.items()}

    def settled(self, now: float) -> list[str]:
        """Subjects whose flapping ends now: no change for a whole window. O(flapping)."""
        ended = [s for s, last in self._flapping.items() if now - last >= self.window]
        for subject in ended:
            del self._flapping[subject]
        return ended

    def resume(self, subject: str, at: float) -> None:
        """Flapping since before a restart: settles after a whole window without a change."""
        self._flapping[subject] = at

    def last_change(self, subject: str) -> float | None:
        """When ``subject`` last changed, as far as the last ``threshold`` changes tell."""
        recent = self._recent.get(subject)
        times = [t for t in (self._flapping.get(subject), recent[-1] if recent else None) if t]
        return max(times, default=None)

    def is_flapping(self, subject: str) -> bool:
        return subject in self._flapping

    @property
    def flapping(self) -> set[str]:
        return set(self._flapping)

    def forget(self, subjects: Iterable[str]) -> None:
        for subject in subjects:
            self._recent.pop(subject, None)
            self._flapping.pop(subject, None)
