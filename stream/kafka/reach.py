"""Finding the broker of a running system, for the commands that only look at it.

``status``, ``report``, ``quarantine list|release|purge`` read what the roles wrote; they never
start a broker of their own (one started for them would be empty, and its empty answer wrong)
and never create a topic. :func:`find_broker` says in a few seconds, in one line naming the
address and what to check, when nothing answers there; :data:`READER_OPTIONS` are the client
timeouts that keep every later step of such a command as short.
"""

from __future__ import annotations

import socket
from typing import Any

from kafka import KafkaConsumer, KafkaProducer

from driftline.stream.errors import BrokerError
from driftline.stream.kafka.broker import EMBEDDED, _split_address, broker_answers

#: seconds a probe of one address may take
PROBE_SECONDS = 3.0

#: client options of a command that reads the live system: fail in seconds, never auto-create
#: a topic (the user's ``kafka.client`` settings win over these); kept to those the installed
#: kafka-python knows (``api_version_auto_timeout_ms`` before 3.0, ``bootstrap_timeout_ms`` since)
READER_OPTIONS: dict[str, Any] = {
    key: value
    for key, value in {
        "bootstrap_timeout_ms": 5000,
        "api_version_auto_timeout_ms": 5000,
        "request_timeout_ms": 10000,
        "reconnect_backoff_max_ms": 1000,
        "allow_auto_create_topics": False,
    }.items()
    if key in KafkaConsumer.DEFAULT_CONFIG and key in KafkaProducer.DEFAULT_CONFIG
}


def reader_client(client: dict[str, Any] | None) -> dict[str, Any]:
    """``client`` (a configuration's ``kafka.client``) with :data:`READER_OPTIONS` under it."""
    return {**READER_OPTIONS, **(client or {})}


def find_broker(bootstrap_servers: str, embedded_address: str, client: dict[str, Any] | None = None,
                timeout: float = PROBE_SECONDS) -> str:
    """The bootstrap address of the running system's broker; BrokerError when none answers.

    ``embedded`` means the shared broker ``driftline broker`` runs at ``embedded_address``;
    any other value is a list of ``host:port``, of which one must accept a connection (and,
    without TLS, answer a Kafka request).
    """
    if bootstrap_servers.strip().lower() == EMBEDDED:
        if broker_answers(embedded_address, timeout=timeout):
            return embedded_address
        raise BrokerError(f"no broker is running at {embedded_address}: start `driftline broker`, or set "
                          "kafka.bootstrap_servers", hint="")
    addresses = [a.strip() for a in bootstrap_servers.split(",") if a.strip()]
    protocol = str((client or {}).get("security_protocol", "PLAINTEXT")).upper()
    failures = []
    for address in addresses:
        why = _probe(address, timeout, kafka_request=protocol == "PLAINTEXT")
        if why is None:
            return bootstrap_servers
        failures.append(f"{address} {why}")
    raise BrokerError(f"cannot reach Kafka at {bootstrap_servers}: {'; '.join(failures) or 'no address given'}",
                      hint="check kafka.bootstrap_servers, that the brokers run and are reachable from here, "
                           "and kafka.client's security settings")


def _probe(address: str, timeout: float, kafka_request: bool) -> str | None:
    """None when ``address`` answers; else why not, in a few words."""
    try:
        host, port = _split_address(address)
    except ValueError as exc:
        return f"is not an address ({exc})"
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except socket.gaierror:
        return "does not resolve (unknown host name)"
    except TimeoutError:
        return f"did not accept a connection within {timeout:g} s"
    except OSError as exc:
        return f"refused the connection ({exc.strerror or exc})"
    if kafka_request and not broker_answers(address, timeout=timeout):
        return "accepts connections but does not answer as a Kafka broker (check security_protocol)"
    return None
