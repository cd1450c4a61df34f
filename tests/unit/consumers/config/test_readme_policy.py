"""The README's actions-and-registry example validates as it stands."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from driftline.consumers.core.checks import parse_config

README = Path(__file__).resolve().parents[4] / "README.md"
BASE = """
stream:
  name: credit-scoring
  features: {income: numeric, age: numeric, country: categorical}
  label: {field: label, type: binary}
"""


def test_readme_models_and_policies_example_validates() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Actions and the model registry"):]
    example = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    cfg = parse_config(BASE + example, filename="README.md")
    assert [p.do for p in cfg.policies] == [["quarantine"], ["rollback", "retrain"]]
    assert cfg.policies[1].window == 3000 and cfg.models.retrain.margin == 0.02
    assert cfg.models.quarantine_quiet_events == 20000
    assert set(yaml.safe_load(example)) == {"policies", "models"}
