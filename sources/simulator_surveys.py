"""Survey responses of simulated customers: CSAT, sometimes NPS and CES, scored by how the
contact or ticket went."""

from __future__ import annotations

import math
import random
from heapq import heappush
from typing import TYPE_CHECKING, Any, Final

from ccpulse.sources.simulator_model import WireEvent

if TYPE_CHECKING:
    from ccpulse.sources.simulator_arrivals import _Pending, _Run

#: Delay of a contact's survey response after its completion (ms): right after a call or chat,
#: hours after an email.
_SURVEY_DELAY_MS: Final = {"voice": (20_000, 180_000), "video": (20_000, 180_000),
                           "chat": (10_000, 600_000), "sms": (60_000, 1_800_000),
                           "social": (60_000, 3_600_000)}  # fmt: skip
_SURVEY_DELAY_MEAN_MS: Final = 4 * 3_600_000  # other channels (email): exponential
_NPS_PROBABILITY: Final = 0.5
_CES_PROBABILITY: Final = 0.35


def survey_responses(
    rng: random.Random, ts: int, mood: float, id_base: str, fields: dict[str, Any]
) -> list[WireEvent]:
    """CSAT (1-5), sometimes also NPS (0-10) and CES (1-7, 7 = least effort) from one customer.

    `mood` is the customer's satisfaction before noise, about 0 (furious) to 1 (delighted); each
    score is the noisy mood on its scale, rounded. Ids are `id_base` + "-csat", "-nps", "-ces".
    """
    mood += rng.gauss(0.0, 0.18)
    out = []
    for survey, probability, low, high, bias in (
        ("csat", 1.0, 1, 5, 0.0),
        ("nps", _NPS_PROBABILITY, 0, 10, 0.04),
        ("ces", _CES_PROBABILITY, 1, 7, 0.0),
    ):
        if probability < 1.0 and rng.random() >= probability:
            continue
        x = mood + bias + rng.gauss(0.0, 0.08)
        x = 0.0 if x < 0.0 else 1.0 if x > 1.0 else x
        out.append({"event_id": f"{id_base}-{survey}", "type": "survey.response", "ts": ts,
                    "tenant": fields["tenant"], "survey": survey,
                    "score": low + round((high - low) * x), **fields})  # fmt: skip
    return out


def contact_mood(wait_ms: int, resolved: bool) -> float:
    """Mood after a contact: long waits and unresolved contacts sour it."""
    return (0.74 + (0.14 if resolved else -0.18)
            - 0.42 * (1.0 - math.exp(-wait_ms / 240_000)))  # fmt: skip


def _contact_surveys(
    r: _Run, cid: str, done: int, wait_ms: int, resolved: bool, agent_id: str, seq: int,
    pending: _Pending,
) -> None:  # fmt: skip
    q = r.q
    rng = r.srng
    span = _SURVEY_DELAY_MS.get(q.channel)
    if span is None:
        delay = -math.log(1.0 - rng.random()) * _SURVEY_DELAY_MEAN_MS
    else:
        delay = rng.uniform(*span)
    ts = done + int(delay)
    fields = {"tenant": q.tenant, "channel": q.channel, "queue": q.name, "agent_id": agent_id,
              "contact_id": cid}  # fmt: skip
    for rank, ev in enumerate(survey_responses(rng, ts, contact_mood(wait_ms, resolved), cid,
                                               fields), start=3):  # fmt: skip
        heappush(pending, (ts, seq, rank, ev))
