"""Building a campaign in Python: add activities, connect them, get a validated model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from partita.model.activities import ActivityBase
from partita.model.campaign import Campaign, Transition


class CampaignBuilder:
    """Collects activities and transitions; :meth:`build` returns the :class:`Campaign`.

    >>> b = CampaignBuilder("spring", seed=42)
    >>> gold = b.add(BuildAudience(id="gold", filter="loyalty_tier = 'gold'"))
    >>> b.add(End(id="done"), after=gold)
    """

    def __init__(self, name: str, **properties: Any) -> None:
        self._properties = {"name": name, **properties}
        self._activities: list[ActivityBase] = []
        self._transitions: list[Transition] = []

    def add(self, activity: ActivityBase, after: str | Sequence[str] = ()) -> str:
        """Add an activity, fed by the outputs in ``after`` (``"gold"`` or ``"split1.mail"``)."""
        self._activities.append(activity)
        for source in [after] if isinstance(after, str) else after:
            self.connect(source, activity.id)
        return activity.id

    def connect(self, source: str, target: str) -> None:
        """A transition from ``activity[.output]`` to an activity id."""
        self._transitions.append(Transition.model_validate({"from": source, "to": target}))

    def build(self) -> Campaign:
        """The campaign (checked like a campaign file)."""
        data = {
            **self._properties,
            "activities": [a.model_dump(by_alias=True) for a in self._activities],
            "transitions": [{"from": t.source, "to": t.target} for t in self._transitions],
        }
        return Campaign.model_validate(data)
