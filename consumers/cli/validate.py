"""``driftline validate CONFIG``: every problem with its key, line and why; exit 1 on any."""

from __future__ import annotations

import argparse

from driftline.consumers.core.checks import load_config
from driftline.consumers.core.plan import plan


def cmd_validate(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    detectors = plan(cfg)
    print(f"OK: {args.config} (stream {cfg.stream.name!r}, {len(cfg.stream.features)} features, "
          f"{len(detectors)} detectors, {len(cfg.policies)} policies)")
    return 0
