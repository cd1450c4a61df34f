"""docker-compose.yml, the Dockerfile and examples/docker.yaml agree with each other and the contract."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
#: The shared contract lives beside the repository checkout (../shared).
CONTRACT_MD = REPO.parent / "shared" / "contract.md"
CONTRACT_YAML = REPO.parent / "shared" / "contract.yaml"

#: The topic table of contract.md. Kept here so these tests also run where the
#: shared folder is absent; checked against contract.md wherever it is present.
CONTRACT_TOPICS = {
    "events",
    "labels",
    "drift-alerts",
    "events-quarantine",
    "events-deadletter",
    "driftline-actions",
    "driftline-models",
}
ROLES = ("monitor", "learner", "actions")
CONFIG_IN_CONTAINER = "/config/driftline.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value", ...]
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def _topics_in_contract_md(text: str) -> set[str]:
    section = text.split("## Topics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\|\s*`([^`]+)`\s*\|", section, flags=re.MULTILINE))


def _mounted_config(service: dict[str, Any]) -> Path:
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if target == CONFIG_IN_CONTAINER:
            return (REPO / source).resolve()
    raise AssertionError(f"nothing is mounted at {CONFIG_IN_CONTAINER}")


def test_topic_list_matches_the_contract_table() -> None:
    if CONTRACT_MD.exists():  # otherwise CONTRACT_TOPICS stands in for it
        assert _topics_in_contract_md(CONTRACT_MD.read_text()) == CONTRACT_TOPICS


def test_kafka_is_apache_kafka_in_kraft_mode(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = _environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "KAFKA_CONTROLLER_QUORUM_VOTERS" in env
    assert not any("ZOOKEEPER" in key for key in env)
    advertised = env["KAFKA_ADVERTISED_LISTENERS"]
    assert "//kafka:9092" in advertised and "//localhost:29092" in advertised
    assert any(str(port).startswith("29092:") for port in kafka["ports"])
    assert "healthcheck" in kafka


def test_init_topics_creates_every_contract_topic(services: dict[str, dict[str, Any]]) -> None:
    init = services["init-topics"]
    script = "\n".join(_command(init)) if isinstance(init["command"], list) else init["command"]
    assert "kafka-topics.sh" in script and "--if-not-exists" in script
    created = set(re.findall(r"^\s*create\s+(\S+)\s+\d+\s*$", script, flags=re.MULTILINE))
    assert CONTRACT_TOPICS <= created
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"


@pytest.mark.parametrize("role", ROLES)
def test_driftline_service_runs_its_role(services: dict[str, dict[str, Any]], role: str) -> None:
    service = services[f"driftline-{role}"]
    assert _command(service) == ["run", CONFIG_IN_CONTAINER, "--role", role]
    assert service["build"] in (".", {"context": "."})
    assert service["restart"] == "unless-stopped"
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert service["depends_on"]["init-topics"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("role", ROLES)
def test_mounted_config_exists_and_points_at_compose_kafka(
    services: dict[str, dict[str, Any]], role: str
) -> None:
    config_path = _mounted_config(services[f"driftline-{role}"])
    assert config_path.is_file() and config_path.is_relative_to(REPO)
    text = config_path.read_text()
    assert re.search(r"^\s*bootstrap_servers:\s*kafka:9092\b", text, flags=re.MULTILINE)
    assert yaml.safe_load(text)["kafka"]["bootstrap_servers"] == "kafka:9092"


def test_docker_config_differs_from_the_contract_only_in_bootstrap_servers(
    services: dict[str, dict[str, Any]],
) -> None:
    config = yaml.safe_load(_mounted_config(services["driftline-monitor"]).read_text())
    if CONTRACT_YAML.exists():
        expected = yaml.safe_load(CONTRACT_YAML.read_text())
        expected["kafka"]["bootstrap_servers"] = "kafka:9092"
        assert config == expected
    assert set(config["topics"].values()) <= CONTRACT_TOPICS


def test_dockerfile_installs_driftline_as_the_entrypoint() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, flags=re.MULTILINE)
    assert re.search(r"^RUN pip install \.", text, flags=re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["driftline"\]\s*$', text, flags=re.MULTILINE)
