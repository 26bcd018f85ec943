"""The KPI core: pure, I/O-free arithmetic shared by the streaming agents and the batch report.

Its per-event modules run compiled where setup.py built them (`ccpulse.native` chooses).
"""

from ccpulse import native

native.install()


from ccpulse.streams.kpi.engine import Changes, Engine, Verdict  # noqa: E402
from ccpulse.streams.kpi.figures import figures, service_level  # noqa: E402
from ccpulse.streams.kpi.policy import (  # noqa: E402
    Attribution,
    EngineSettings,
    PolicyBook,
    QueuePolicy,
    SLFormula,
)
from ccpulse.streams.kpi.snapshot import queue_snapshot  # noqa: E402

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
