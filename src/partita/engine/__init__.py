"""The engine layer: executions, tasks, lifecycle, and the loop that runs them."""

from partita.engine.lifecycle import Action, LifecycleError, campaign_status
from partita.engine.service import Engine, WorkingTableRef

__all__ = ["Action", "Engine", "LifecycleError", "WorkingTableRef", "campaign_status"]
