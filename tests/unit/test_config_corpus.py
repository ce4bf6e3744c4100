"""Every invalid config in tests/data/invalid reports exactly the problems in its .expected file.

Each case ``NN-name.yaml`` has a sibling ``NN-name.expected`` holding the full
``FILE:LINE:COL: path: message`` lines, FILE relative to tests/data/invalid. Files that cases
include live in ``included/`` so they are not cases themselves.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.config import load_config
from netwatch.errors import ConfigError

CORPUS = Path(__file__).resolve().parents[1] / "data" / "invalid"
CASES = sorted(CORPUS.glob("[0-9][0-9]-*.yaml"))
# The secrets the cases rely on being set; the ones they want missing are not here.
ENVIRON = {"SNMP_COMMUNITY": "public", "SNMP_AUTH": "auth-pass", "SNMP_PRIV": "priv-pass"}


def test_corpus_has_enough_cases_each_with_expectations() -> None:
    """At least 30 cases, and none without its .expected file."""
    assert len(CASES) >= 30
    assert [case.name for case in CASES if not case.with_suffix(".expected").is_file()] == []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.stem)
def test_invalid_config_reports_the_expected_problems(
    case: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the case raises ConfigError whose lines equal the .expected file."""
    monkeypatch.chdir(CORPUS)
    expected = case.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    with pytest.raises(ConfigError) as info:
        load_config(case.name, environ=ENVIRON)
    assert [str(problem) for problem in info.value.problems] == expected
    assert str(info.value).splitlines() == expected
