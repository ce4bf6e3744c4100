"""Hostile configs: bombs, self-reference, deep nesting, huge files and numbers are refused
with FILE:LINE:COL problems before the loader does work that grows faster than the file.

No test measures time: each asserts that the file is refused before it is composed into
nodes (``yaml.compose`` is replaced by a tripwire), or counts what the scan let through.
The timeout marks only guard against a hang if a limit regresses.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from netwatch.config import load_config
from netwatch.configuration import limits
from netwatch.configuration.limits import Budget, LimitExceeded, scan
from netwatch.configuration.tree import Builder
from netwatch.configuration.values import parse_duration
from netwatch.errors import ConfigError
from netwatch.instants import MAX_DURATION

CORPUS = Path(__file__).resolve().parents[1] / "data" / "invalid"
DEVICE = "sites: [{id: hq, devices: [{id: r1, address: 10.0.0.1}]}]\n"

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def no_compose(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails the test if anything is composed into nodes."""

    def tripwire(*_: Any, **__: Any) -> None:
        raise AssertionError("the file was composed before being refused")

    monkeypatch.setattr(yaml, "compose", tripwire)


def problems_of(path: Path | str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    return [str(problem) for problem in info.value.problems]


def corpus_case(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copy(CORPUS / name, tmp_path / name))


@pytest.mark.usefixtures("no_compose")
def test_merge_key_bomb_is_refused_at_the_alias_before_composing(tmp_path: Path) -> None:
    """The 9^11-key merge bomb stops at the alias that passes 10,000 repeated values."""
    path = corpus_case(tmp_path, "55-merge-key-bomb.yaml")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:8:20: defaults.snmp4[0]: alias *x3 brings the values")
    assert "11,406, more than the 10,000 allowed" in problem


@pytest.mark.usefixtures("no_compose")
def test_alias_bomb_of_sites_is_refused_at_the_alias_before_composing(tmp_path: Path) -> None:
    """Sites listing aliases of aliases stop at the alias that passes the budget."""
    path = corpus_case(tmp_path, "56-alias-bomb.yaml")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:7:26: sites[4].sites[0]: alias *s3 brings the values")


def test_scan_lets_through_no_more_than_the_alias_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the bomb, the values its aliases repeat stop at the 10,000 floor."""
    lines = ["a0: &a0 [x, y]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 4)}]" for i in range(1, 30)]
    accepted: list[int] = []
    original = limits._alias

    def counting(*args: Any) -> int:
        size = original(*args)
        accepted.append(size)
        return size

    monkeypatch.setattr(limits, "_alias", counting)
    with pytest.raises(LimitExceeded) as info:
        scan("\n".join(lines) + "\n", Budget())
    assert info.value.message.startswith("alias *a")
    assert 0 < sum(accepted) <= limits.ALIAS_FLOOR


def test_aliases_used_sensibly_still_load(tmp_path: Path) -> None:
    """A shared anchor merged into 300 devices is far below the budget and loads."""
    devices = "\n".join(
        f"      - {{id: d{i}, address: 10.0.{i // 250}.{i % 250 + 1}, snmp: *std}}"
        for i in range(300)
    )
    path = tmp_path / "n.yaml"
    path.write_text(
        "defaults:\n"
        "  snmp: &std {interval: 60s, timeout: 2s, retries: 1, version: 2c,\n"
        "              community: {env: C}}\n"
        "  icmp: &icmp {interval: 30s, count: 3, timeout: 1s}\n"
        "sites:\n"
        "  - id: hq\n"
        "    icmp: {<<: *icmp, count: 2}\n"
        "    devices:\n" + devices + "\n",
        encoding="utf-8",
    )
    config = load_config(path, environ={"C": "public"})
    assert len(config.devices) == 300
    assert all(d.snmp is not None and d.snmp.interval == 60 for d in config.devices)
    own, added = scan(path.read_text(encoding="utf-8"), Budget())
    assert 0 < added < 10 * own


@pytest.mark.usefixtures("no_compose")
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "57-self-referencing-alias.yaml",
            ":4:53: sites[0].devices[1]: alias *devices is inside the value anchored &devices "
            "at line 4, column 14: a value cannot contain itself",
        ),
        (
            "58-self-merging-mapping.yaml",
            ":3:35: defaults.icmp: alias *icmp is inside the value anchored &icmp "
            "at line 3, column 9: a value cannot contain itself",
        ),
    ],
)
def test_self_reference_is_a_located_problem_not_a_recursion_error(
    tmp_path: Path, case: str, expected: str
) -> None:
    """An alias inside the value it names is reported where the alias is written."""
    path = corpus_case(tmp_path, case)
    assert problems_of(path) == [f"{path}{expected}"]


def test_self_reference_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    """The problem carries the included file's name, and the main file is still checked."""
    (tmp_path / "sub.yaml").write_text("sites: &s [{id: a, sites: *s}]\n", encoding="utf-8")
    main = tmp_path / "n.yaml"
    main.write_text("include: sub.yaml\n" + DEVICE, encoding="utf-8")
    assert problems_of(main) == [
        f"{tmp_path / 'sub.yaml'}:1:27: sites[0].sites: alias *s is inside the value "
        "anchored &s at line 1, column 8: a value cannot contain itself"
    ]


@pytest.mark.usefixtures("no_compose")
def test_a_hundred_thousand_nested_brackets_are_a_clear_problem(tmp_path: Path) -> None:
    """100,000 nested '[' in flow style: a located problem, no RecursionError."""
    path = tmp_path / "deep.yaml"
    path.write_text("sites: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:1:")
    assert "nest" in problem


def test_deep_nesting_is_refused_by_the_scan_even_with_the_pure_python_parser() -> None:
    """Without libyaml's own limit the scan still stops at depth 101, at its position."""
    with pytest.raises(LimitExceeded) as info:
        scan("sites: " + "[" * 5000 + "]" * 5000 + "\n", Budget(), yaml.SafeLoader)
    assert (info.value.line, info.value.column) == (1, 107)  # the root mapping is a level
    assert info.value.message == "values nested more than 100 levels deep"


@pytest.mark.usefixtures("no_compose")
def test_nesting_through_a_chain_of_aliases_is_refused_at_the_alias(tmp_path: Path) -> None:
    """150 anchors each wrapping the previous nest 150 deep once expanded: refused."""
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 150)]
    path = tmp_path / "chain.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert problems_of(path) == [
        f"{path}:99:12: a98[0]: alias *a97 nests values more than 100 levels deep"
    ]


@pytest.mark.usefixtures("no_compose")
def test_a_file_over_10_mib_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A sparse 10 MiB + 1 file: one problem at FILE:1:1 naming the limit."""
    path = tmp_path / "big.yaml"
    with path.open("wb") as stream:
        stream.truncate(limits.MAX_FILE_BYTES + 1)
    assert problems_of(path) == [
        f"{path}:1:1: the file is larger than the 10 MiB allowed for one configuration file; "
        "split it into files joined with 'include:'"
    ]


@pytest.mark.usefixtures("no_compose")
def test_an_endless_file_is_read_no_further_than_the_limit() -> None:
    """/dev/zero has no size to check first: reading stops at the limit."""
    [problem] = problems_of("/dev/zero")
    assert problem.startswith("/dev/zero:1:1: the file is larger than the 10 MiB")


def test_includes_together_are_limited_in_bytes_and_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The byte and value budgets are shared by the main file and every include."""
    monkeypatch.setattr(limits, "MAX_TOTAL_BYTES", 450)
    for i in range(3):
        (tmp_path / f"d{i}.yaml").write_text(
            f"sites: [{{id: s{i}, devices: [{{id: r{i}, address: 10.0.0.{i + 1}}}]}}]\n"
            + "#" * 150
            + "\n",
            encoding="utf-8",
        )
    main = tmp_path / "n.yaml"
    main.write_text('include: "d*.yaml"\n', encoding="utf-8")
    assert problems_of(main) == [
        f"{tmp_path / 'd2.yaml'}:1:1: with this file (209 bytes) the configuration files "
        "together pass the 0 MiB allowed for a configuration"
    ]
    monkeypatch.setattr(limits, "MAX_TOTAL_BYTES", 10_000)
    monkeypatch.setattr(limits, "MAX_NODES", 20)
    found = problems_of(main)
    assert found[0] == (
        f"{tmp_path / 'd1.yaml'}:1:10: sites[0]: the configuration holds more than 20 values "
        "in all; that is far more than any network needs"
    )


def test_huge_numbers_are_out_of_range_never_an_overflow(tmp_path: Path) -> None:
    """400- and 5,000-digit numbers and 1e400 are located 'out of range' problems."""
    path = corpus_case(tmp_path, "60-huge-numbers.yaml")
    found = problems_of(path)
    assert len(found) == 9
    assert all(line.startswith(f"{path}:") for line in found)
    assert sum("out of range" in line for line in found) == 7


def test_parse_duration_bounds_every_form() -> None:
    """An int too big for a float, a huge text and an overlong sum are all out of range."""
    for raw in (10**400, "1" + "0" * 400 + "s", "1e400", "4000d", "3652d12h1s", 1e300):
        with pytest.raises(ValueError, match="out of range"):
            parse_duration(raw)
    assert parse_duration("3652d12h") == MAX_DURATION


def test_counts_without_a_field_maximum_are_bounded(tmp_path: Path) -> None:
    """down_after has no maximum of its own, yet 10 million is refused."""
    path = tmp_path / "n.yaml"
    path.write_text("defaults: {down_after: 10000000}\n" + DEVICE, encoding="utf-8")
    assert problems_of(path) == [
        f"{path}:1:24: defaults.down_after: must be at most 1000000, got 10000000"
    ]


def test_an_oversize_secret_file_is_a_problem_not_read_whole(tmp_path: Path) -> None:
    """A {file:} secret over 64 KiB is refused with the file named, its content never shown."""
    secret = tmp_path / "community"
    secret.write_text("x" * (64 * 1024 + 1), encoding="utf-8")
    path = tmp_path / "n.yaml"
    path.write_text(
        "defaults: {snmp: {community: {file: community}}}\n"
        "sites: [{id: hq, devices: [{id: r1, address: 10.0.0.1, snmp: {}}]}]\n",
        encoding="utf-8",
    )
    assert problems_of(path) == [
        f"{path}:1:37: defaults.snmp.community.file: secret file {secret} is larger than 64 KiB"
    ]


def test_a_recursion_error_anywhere_in_the_loader_becomes_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last guard: a RecursionError the limits did not foresee is a problem, not a crash."""

    def too_deep(self: object, path: str) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(Builder, "build", too_deep)
    path = tmp_path / "n.yaml"
    path.write_text(DEVICE, encoding="utf-8")
    assert problems_of(path) == [
        f"{path}:1:1: the configuration nests too deeply to check; flatten its sites or includes"
    ]


def test_undefined_alias_is_still_the_parser_s_syntax_error(tmp_path: Path) -> None:
    """The scan leaves an undefined alias to the composer's own located error."""
    path = tmp_path / "n.yaml"
    path.write_text(textwrap.dedent("defaults: *nowhere\n") + DEVICE, encoding="utf-8")
    [problem] = problems_of(path)
    assert problem == f"{path}:1:11: YAML syntax error: found undefined alias"


def test_a_huge_value_in_the_wrong_place_is_not_echoed_whole(tmp_path: Path) -> None:
    """A megabyte string where a mapping belongs: the problem shows its start and its length."""
    path = tmp_path / "n.yaml"
    path.write_text(f"agent: {'x' * 1_000_000}\n" + DEVICE, encoding="utf-8")
    [problem] = problems_of(path)
    assert problem.startswith(f"{path}:1:8: agent: expected a mapping, got 'xxx")
    assert problem.endswith("… (1,000,000 characters)")
    assert len(problem) < 300
