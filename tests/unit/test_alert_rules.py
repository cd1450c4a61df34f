"""The shipped Prometheus alert rules are valid, unit-tested by promtool, and wired up.

promtool comes with Debian's ``prometheus`` package (``apt-get install -y prometheus``);
without it these tests fail, they never skip.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"
RULES = DASHBOARDS / "alerts.yml"
RULES_TEST = DASHBOARDS / "alerts_test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(path).is_file():
        pytest.fail("promtool is missing: install Debian's package (apt-get update && apt-get install -y prometheus); "
                    ".ci/run does")
    return subprocess.run([path, *args], check=False, capture_output=True, text=True, timeout=120, cwd=REPO)


def rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_promtool_checks_the_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    done = promtool("test", "rules", str(RULES_TEST))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_rule_is_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load(RULES_TEST.read_text())
    assert tests["rule_files"] == [RULES.name]
    cases = [c for t in tests["tests"] for c in t.get("alert_rule_test", [])]
    exprs = " ".join(c["expr"] for t in tests["tests"] for c in t.get("promql_expr_test", []))
    for rule in rules():
        if "record" in rule:
            assert rule["record"] in exprs, f"recording rule {rule['record']} has no promql_expr_test"
            continue
        name = rule["alert"]
        mine = [c for c in cases if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in mine), f"{name} is never tested firing"
        assert any(not c["exp_alerts"] for c in mine), f"{name} is never tested not firing"


def test_every_alert_has_a_severity_a_summary_and_the_report_as_runbook() -> None:
    alerts = [r for r in rules() if "alert" in r]
    assert len(alerts) >= 8
    for rule in alerts:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert "runbook" in rule["annotations"], rule["alert"]
    runbooks = [r["annotations"]["runbook"] for r in alerts]
    assert sum("driftline report CONFIG --since 1h" in r for r in runbooks) >= len(alerts) - 1


def test_prometheus_config_loads_the_rules_and_compose_mounts_them() -> None:
    config = yaml.safe_load((DASHBOARDS / "prometheus.yml").read_text())
    assert config["rule_files"] == [RULES.name]  # beside prometheus.yml, here and in the container
    done = promtool("check", "config", str(DASHBOARDS / "prometheus.yml"))
    assert done.returncode == 0, done.stdout + done.stderr
    service = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["prometheus"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    assert mounts["/etc/prometheus/prometheus.yml"] == "./dashboards/prometheus.yml"
    assert mounts[f"/etc/prometheus/{RULES.name}"] == f"./dashboards/{RULES.name}"


def test_readme_alertmanager_example_routes_to_slack_and_pagerduty() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    example = next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL) if "pagerduty_configs" in b)
    config = yaml.safe_load(example)
    receivers = {r["name"]: r for r in config["receivers"]}
    routes = [config["route"], *config["route"]["routes"]]
    assert {r["receiver"] for r in routes} == set(receivers)
    assert any("slack_configs" in r for r in receivers.values())
    assert any("pagerduty_configs" in r for r in receivers.values())
    severities = {r["labels"]["severity"] for r in rules() if "alert" in r}
    matched = {m.split("=", 1)[1].strip('"') for r in config["route"]["routes"] for m in r["matchers"]
               if m.startswith("severity=")}
    assert matched <= severities
