"""Text helpers: ids from Vietnamese names, and keys compared without case or diacritics.

>>> slug("Phường Lái Hiếu"), slug("Đông Hòa  (cũ)"), slug("—")
('phuong-lai-hieu', 'dong-hoa-cu', '')
>>> fold("  Địa chỉ IP "), fold("Xã/Phường"), fold("snmp_community")
('dia chi ip', 'xa phuong', 'snmp community')
"""

from __future__ import annotations

import re
import unicodedata

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_SEPARATORS = re.compile(r"[^a-z0-9]+")
# đ is a letter of its own, not d with a mark: NFD does not take it apart.
_LETTERS = str.maketrans({"đ": "d", "Đ": "d"})


def strip_marks(text: str) -> str:
    """The text without diacritics (and đ as d), lower case."""
    decomposed = unicodedata.normalize("NFD", text.translate(_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def slug(text: str) -> str:
    """An id made from a name: ASCII letters and digits joined by ``-`` (may be empty)."""
    return _NOT_ALNUM.sub("-", strip_marks(text)).strip("-")


def fold(text: str) -> str:
    """A key to compare headers and values by: no case, no diacritics, words of letters and
    digits joined by one space (``Xã/Phường`` is ``xa phuong``)."""
    return _SEPARATORS.sub(" ", strip_marks(text)).strip()


class Ids:
    """Hands out unique ids in a deterministic order: the second ``x`` is ``x-2``, then ``x-3``.

    >>> ids = Ids()
    >>> ids.reserve("a"), ids.make("a"), ids.make("a"), ids.make("")
    (True, 'a-2', 'a-3', 'x')
    """

    def __init__(self, empty: str = "x") -> None:
        self._taken: set[str] = set()
        self._empty = empty

    def reserve(self, ident: str) -> bool:
        """Takes an id given in the sheet; False if it is already taken."""
        if ident in self._taken:
            return False
        self._taken.add(ident)
        return True

    def make(self, base: str) -> str:
        base = base or self._empty
        ident, n = base, 1
        while ident in self._taken:
            n += 1
            ident = f"{base}-{n}"
        self._taken.add(ident)
        return ident
