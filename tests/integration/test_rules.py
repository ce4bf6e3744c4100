"""The Prometheus rules and example configs under dashboards/prometheus, checked by promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

RULES_DIR = Path(__file__).resolve().parents[2] / "dashboards" / "prometheus"
RULE_FILES = ("recording.rules.yml", "alerting.rules.yml")

pytestmark = pytest.mark.peer


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is installed by scripts/install-peers"
    return path


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    # cwd = the rules directory: rule_files paths are relative, as in a real deployment.
    return subprocess.run(
        argv, cwd=RULES_DIR, capture_output=True, text=True, timeout=60, check=False
    )


def alert_names() -> set[str]:
    doc = yaml.safe_load((RULES_DIR / "alerting.rules.yml").read_text(encoding="utf-8"))
    return {rule["alert"] for group in doc["groups"] for rule in group["rules"]}


def test_promtool_accepts_the_recording_and_alerting_rules() -> None:
    """`promtool check rules` passes, lint included, for both rule files."""
    result = run(tool("promtool"), "check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_FILES)


def test_promtool_unit_tests_pass() -> None:
    """`promtool test rules rules.test.yml` passes."""
    result = run(tool("promtool"), "test", "rules", "rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alerting_rule_is_unit_tested_firing_and_not_firing() -> None:
    """Each alert appears in rules.test.yml at least once with alerts and once with none."""
    doc = yaml.safe_load((RULES_DIR / "rules.test.yml").read_text(encoding="utf-8"))
    firing: set[str] = set()
    silent: set[str] = set()
    for case in doc["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = alert_names()
    assert names - firing == set(), "alerts never shown firing"
    assert names - silent == set(), "alerts never shown not firing"
    assert (firing | silent) - names == set(), "tests name alerts that do not exist"


def test_every_alerting_rule_has_severity_summary_description_and_for() -> None:
    """Alerts carry what routing and the message need: severity, summary, description, for."""
    doc = yaml.safe_load((RULES_DIR / "alerting.rules.yml").read_text(encoding="utf-8"))
    for group in doc["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
            assert rule["annotations"]["summary"].strip(), rule["alert"]
            assert rule["annotations"]["description"].strip(), rule["alert"]
            assert rule.get("for"), rule["alert"]


def test_example_prometheus_config_is_valid_and_loads_the_rules(tmp_path: Path) -> None:
    """`promtool check config` accepts prometheus.yml and finds both rule files beside it."""
    result = run(tool("promtool"), "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(RULE_FILES)} rule files found" in result.stdout
    # Copied elsewhere with the rules, as the README tells operators to do, it still works.
    for name in ("prometheus.yml", *RULE_FILES):
        shutil.copy(RULES_DIR / name, tmp_path / name)
    copied = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stdout + copied.stderr


def test_example_alertmanager_config_routes_each_district_to_its_receiver() -> None:
    """amtool accepts alertmanager.yml, and a district's alert goes to that district's officer."""
    amtool = tool("amtool")
    check = run(amtool, "check-config", "alertmanager.yml")
    assert check.returncode == 0, check.stdout + check.stderr
    cases = {
        ("district=ninh-kieu", "alertname=NetwatchStorageAlmostFull"): "it-ninh-kieu",
        ("district=cai-rang", "alertname=NetwatchUplinkUtilisationHigh"): "it-cai-rang",
        ("alertname=NetwatchTLSCertificateExpiringSoon",): "trung-tam-du-lieu",
        ("alertname=NetwatchAgentDown", "instance=nw:9430"): "trung-tam-du-lieu",
    }
    for labels, receiver in cases.items():
        routed = run(amtool, "config", "routes", "test", "--config.file=alertmanager.yml", *labels)
        assert routed.returncode == 0, routed.stdout + routed.stderr
        assert routed.stdout.strip() == receiver, (labels, routed.stdout)


def test_the_sharded_scrape_example_is_valid_and_uses_netwatch_s_sd(tmp_path: Path) -> None:
    """The commented /sd job of prometheus.yml, put in place of the single scrape as its
    comment says, passes `promtool check config`, and points at the /sd netwatch serves."""
    text = (RULES_DIR / "prometheus.yml").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  # - job_name: netwatch"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("  # "))
    sharded = [line.replace("  # ", "  ", 1) for line in lines[start:end]]
    assert any("url: http://127.0.0.1:9430/sd" in line for line in sharded)
    single = next(i for i, line in enumerate(lines) if line == "  - job_name: netwatch")
    single_end = next(i for i in range(single + 1, len(lines)) if lines[i].startswith("  - "))
    config = [*lines[:single], *sharded, *lines[single_end:]]
    for name in RULE_FILES:
        shutil.copy(RULES_DIR / name, tmp_path / name)
    (tmp_path / "prometheus.yml").write_text("\n".join(config) + "\n", encoding="utf-8")
    checked = subprocess.run(
        [tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    app = (Path(__file__).parents[2] / "netwatch" / "web" / "app.py").read_text(encoding="utf-8")
    assert 'add_get("/sd", service_discovery)' in app
    assert '"__param_shard": shard' in app
