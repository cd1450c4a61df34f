"""``driftline models list|show``: the registry's versions, aliases and their history, lineage."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from driftline.consumers.config.model import DriftlineConfig
from driftline.consumers.core.checks import load_config
from driftline.consumers.modelops.operations import open_registry, registry_dir
from driftline.learners.registry import ModelVersion, RegistryError


def cmd_models(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    if args.op == "list":
        return list_models(cfg)
    if args.version is None:
        print("driftline models show: give a VERSION", file=sys.stderr)
        return 2
    return show_model(cfg, args.version)


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _data(parts: list[dict]) -> str:
    out = []
    for p in parts:
        if "file" in p:
            out.append(f"file {p['file']} sha256 {str(p.get('sha256', ''))[:12]}")
        else:
            out.append(f"{p['topic']}[{p['partition']}] {p['from_offset']}..{p['to_offset']} ({p['rows']} rows)")
    return "; ".join(out) or "-"


def _creator(created_by: dict, width: int = 16) -> str:
    """``alert 3f2a… rule 1``: the creator's kind, id (shortened) and what else it names."""
    rest = " ".join(f"{k} {val}" for k, val in created_by.items() if k not in ("kind", "id"))
    return " ".join(x for x in (str(created_by.get("kind", "?")), str(created_by.get("id", ""))[:width], rest) if x)


def _metrics(v: ModelVersion) -> str:
    return ", ".join(f"{k} {val:.4f}" for k, val in v.metrics.items() if k != "n") or "-"


def _no_registry(cfg: DriftlineConfig) -> str | None:
    """Why there is nothing to show (the stream's registry directory does not exist), or None.

    A command that only looks creates nothing: the registry is not opened (which would make it).
    """
    where = Path(registry_dir(cfg)) / cfg.stream.name
    if where.is_dir():
        return None
    return (f"no model registry for stream {cfg.stream.name!r} at {where} (the actions role creates it; "
            "check models.registry and state_dir, relative to the working directory)")


def list_models(cfg: DriftlineConfig, out: IO[str] | None = None) -> int:
    out = out or sys.stdout  # looked up per call: a redirected stdout is honoured
    missing = _no_registry(cfg)
    if missing:
        print(missing, file=out)
        return 0
    registry = open_registry(cfg)
    versions = registry.versions()
    if not versions:
        print(f"no model versions in {registry_dir(cfg)} for stream {cfg.stream.name!r}", file=out)
        return 0
    aliases = registry.aliases()
    by_version: dict[int, list[str]] = {}
    for name, v in aliases.items():
        by_version.setdefault(v, []).append(name)
    print(f"versions of {cfg.stream.name!r} ({registry_dir(cfg)}):", file=out)
    for v in versions:
        tags = f" [{', '.join(by_version[v.version])}]" if v.version in by_version else ""
        creator = f"{v.created_by.get('kind', '?')} {str(v.created_by.get('id', ''))[:16]}".strip()
        print(f"  v{v.version}{tags}  parent {v.parent or '-'}  {_when(v.created_at)}  by {creator}  "
              f"metrics: {_metrics(v)}  data: {_data(v.training_data)}", file=out)
    print("alias history:", file=out)
    for m in registry.history():
        cause = ", ".join(f"{k} {str(val)[:16]}" for k, val in m.cause.items())
        before = "-" if m.previous is None else f"v{m.previous}"
        print(f"  {_when(m.at)}  {m.alias}: {before} -> v{m.version}  {m.reason}  ({cause})", file=out)
    return 0


def show_model(cfg: DriftlineConfig, version: int, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    missing = _no_registry(cfg)
    if missing:
        raise RegistryError(missing, hint="")
    registry = open_registry(cfg)
    try:
        chain = registry.lineage(version)
    except RegistryError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for depth, v in enumerate(chain):
        pad = "  " * depth
        print(f"{pad}v{v.version} ({v.kind}) created {_when(v.created_at)} by {_creator(v.created_by, 64)}", file=out)
        print(f"{pad}  trained on: {_data(v.training_data)}", file=out)
        print(f"{pad}  validated on: {_data(v.validated_on)}  metrics: {_metrics(v)}", file=out)
        print(f"{pad}  trainer {v.trainer or '-'}  config {v.config_hash[:12] or '-'}  "
              f"artifact sha256 {v.artifact_sha256[:16]} ({v.artifact_bytes} bytes)", file=out)
    return 0


def wait_for_models(runner: object, timeout: float = 60.0) -> None:
    """Wait (up to ``timeout``) until the actions role's retrain worker has nothing to do."""
    worker = next((getattr(r, "worker", None) for r in getattr(runner, "roles", []) if r.name == "actions"), None)
    deadline = time.monotonic() + timeout
    while worker is not None and not worker.idle and time.monotonic() < deadline:
        time.sleep(0.2)


def model_summary(cfg: DriftlineConfig, actions: list) -> list[str]:
    """The demo's lines on what was done to the models: rollbacks, retrains, versions."""
    lines = ["  actions:"]
    for r in actions:
        if r.action in ("rollback", "release", "purge") or (r.action == "retrain" and r.status != "started"):
            lines.append(f"    {r.action:<9} {r.status:<9} alert {str(r.alert_id)[:10]}: {r.detail}")
    registry = open_registry(cfg)
    aliases = registry.aliases()
    lines.append(f"  model versions ({registry_dir(cfg)}), aliases {aliases or 'none'}:")
    for v in registry.versions():
        creator = f"{v.created_by.get('kind', '?')} {str(v.created_by.get('id', ''))[:10]}".strip()
        lines.append(f"    v{v.version} parent {v.parent or '-'} by {creator}: held-out {_metrics(v)}; "
                     f"trained on {_data(v.training_data)}")
    for m in registry.history("champion"):
        lines.append(f"    champion v{m.previous or '-'} -> v{m.version}: {m.reason}")
    return lines
