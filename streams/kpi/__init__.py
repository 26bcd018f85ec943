"""The KPI core: pure, I/O-free arithmetic shared by the streaming agents and the batch report."""

from ccpulse.streams.kpi.engine import Changes, Engine, Verdict
from ccpulse.streams.kpi.figures import figures, service_level
from ccpulse.streams.kpi.policy import (
    Attribution,
    EngineSettings,
    PolicyBook,
    QueuePolicy,
    SLFormula,
)
from ccpulse.streams.kpi.snapshot import queue_snapshot

__all__ = [
    "Attribution",
    "Changes",
    "Engine",
    "EngineSettings",
    "PolicyBook",
    "QueuePolicy",
    "SLFormula",
    "Verdict",
    "figures",
    "queue_snapshot",
    "service_level",
]
