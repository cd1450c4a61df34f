"""Which actions an alert calls for, under the configured policies.

Every policy whose ``when`` matches an alert applies; the actions of all matching policies are
taken once each, in the order they first appear. The same function decides in the actions
role, in the learner (which enforces quarantines) and in backtest.
"""

from __future__ import annotations

from collections.abc import Sequence

from driftline.consumers.config.model import PolicyConfig
from driftline.stream.messages import Alert


def matches(policy: PolicyConfig, alert: Alert) -> bool:
    when = policy.when
    return (
        (when.kind is None or when.kind == alert.kind)
        and when.severity == alert.severity
        and (when.feature is None or when.feature == alert.feature)
        and (when.detector is None or when.detector == alert.detector)
        and (alert.segment is None or when.segment == "any" or when.segment == alert.segment)
    )


def actions_for(policies: Sequence[PolicyConfig], alert: Alert) -> list[tuple[str, int]]:
    """(action, index of the first policy that asked for it), in order, each action once."""
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    for i, policy in enumerate(policies):
        if matches(policy, alert):
            for action in policy.do:
                if action not in seen:
                    seen.add(action)
                    out.append((action, i))
    return out


def quarantines(policies: Sequence[PolicyConfig], alert: Alert) -> bool:
    return any(action == "quarantine" for action, _ in actions_for(policies, alert))
