"""Cardinality caps of one worker: tenants, queues per tenant and agents per tenant.

Every name a worker tracks costs memory, Redis writes and Prometheus series for good, so a
flood of distinct names (a bug or an attack upstream) must not be taken on without end. A name
past a cap is refused (its events dead-lettered with reason `over_limit` and counted per limit),
and logged once; names already tracked are never refused. See docs/operations.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final

from ccpulse.config import LimitsSettings

log = logging.getLogger("ccpulse.worker")

#: Names over a cap logged one by one at most; past it a single line says logging stopped.
MAX_LOGGED_NAMES: Final = 1000
LIMITS: Final = ("tenants", "queues", "agents")
#: Why a name was refused: (the limit, the error to dead-letter with).
Refusal = tuple[str, str]


class Admission:
    """The names a worker tracks, and whether a new one still fits under the caps."""

    def __init__(self, limits: LimitsSettings) -> None:
        self.limits = limits
        self.tenants: set[str] = set()
        self.queues: dict[str, set[str]] = {}
        self.agents: dict[str, set[str]] = {}
        self.total_queues = 0
        self.total_agents = 0
        #: Events refused per limit (since the worker started), for /metrics; counted by the
        #: caller, once per event.
        self.refused: dict[str, int] = dict.fromkeys(LIMITS, 0)
        self._logged: set[str] = set()

    def reset(
        self,
        queues: Iterable[tuple[str, str]],
        agents: Iterable[tuple[str, str]],
        tenants: Iterable[str] = (),
    ) -> None:
        """Track exactly the names held now (after a restore, a dropped partition, a GC)."""
        self.tenants = set(tenants)
        self.queues = {}
        self.agents = {}
        for tenant, queue in queues:
            self.tenants.add(tenant)
            self.queues.setdefault(tenant, set()).add(queue)
        for tenant, agent in agents:
            self.tenants.add(tenant)
            self.agents.setdefault(tenant, set()).add(agent)
        self.total_queues = sum(map(len, self.queues.values()))
        self.total_agents = sum(map(len, self.agents.values()))

    def tenant(self, tenant: str) -> Refusal | None:
        """None when the tenant is (now) tracked, else why not."""
        if tenant in self.tenants:
            return None
        if len(self.tenants) >= self.limits.max_tenants:
            return self._refuse("tenants", f"tenant {tenant!r}", self.limits.max_tenants)
        self.tenants.add(tenant)
        return None

    def queue(self, tenant: str, queue: str) -> Refusal | None:
        """None when the queue is (now) tracked, else why not."""
        known = self.queues.get(tenant)
        if known is not None and queue in known:
            return None
        error = self.tenant(tenant)
        if error is not None:
            return error
        known = self.queues.setdefault(tenant, set())
        cap = self.limits.max_queues_per_tenant
        if len(known) >= cap:
            return self._refuse("queues", f"queue {tenant!r}/{queue!r}", cap)
        if self.total_queues >= self.limits.max_queues:
            return self._refuse("queues", f"queue {tenant!r}/{queue!r}", self.limits.max_queues,
                                "max_queues")  # fmt: skip
        known.add(queue)
        self.total_queues += 1
        return None

    def agent(self, tenant: str, agent: str) -> Refusal | None:
        """None when the agent is (now) tracked, else why not."""
        known = self.agents.get(tenant)
        if known is not None and agent in known:
            return None
        error = self.tenant(tenant)
        if error is not None:
            return error
        known = self.agents.setdefault(tenant, set())
        cap = self.limits.max_agents_per_tenant
        what = f"agent {agent[:200]!r} of tenant {tenant!r}"
        if len(known) >= cap:
            return self._refuse("agents", what, cap)
        if self.total_agents >= self.limits.max_agents:
            return self._refuse("agents", what, self.limits.max_agents, "max_agents")
        known.add(agent)
        self.total_agents += 1
        return None

    def _refuse(self, limit: str, what: str, cap: int, setting: str | None = None) -> Refusal:
        setting = setting or ("max_tenants" if limit == "tenants" else f"max_{limit}_per_tenant")
        error = f"{what[:300]} is over [limits] {setting} = {cap}"
        if len(self._logged) < MAX_LOGGED_NAMES and what not in self._logged:
            self._logged.add(what)
            log.warning("over limit: %s (its events are dead-lettered)", error)
            if len(self._logged) == MAX_LOGGED_NAMES:
                log.warning("over limit: %d names logged; further ones are only counted "
                            "(ccpulse_over_limit_events_total)", MAX_LOGGED_NAMES)  # fmt: skip
        return limit, error
