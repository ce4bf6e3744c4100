"""Device lists as spreadsheet programs save them, for the onboarding tests."""

from __future__ import annotations

import unicodedata

TONES = "\u0300\u0301\u0303\u0309\u0323"  # huyền, sắc, ngã, hỏi, nặng


def cp1258(text: str) -> bytes:
    """``text`` as Vietnamese Windows saves it: Windows-1258 has the base letters with their
    shape marks (ê, ơ, ư, ă) but writes the tone as a separate combining mark."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        try:
            out.append(char.encode("cp1258"))
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", char)
            tone = next(mark for mark in parts if mark in TONES)
            base = unicodedata.normalize("NFC", parts.replace(tone, ""))
            out.append((base + tone).encode("cp1258"))
    return b"".join(out)
