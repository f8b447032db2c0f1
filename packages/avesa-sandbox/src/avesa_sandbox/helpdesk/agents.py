"""The instance's helpdesk agents: a fixed roster, embedded in records as ``{id, name, email}``.

Agents are not one of the API's tables (as in many helpdesks, they live in an admin area the data API
does not expose), so tickets and time entries carry the agent object itself. The roster is
deterministic per (seed, instance, scale) and does not change at run time.
"""

from __future__ import annotations

import random
import unicodedata
from typing import Any

from avesa_sandbox.helpdesk import vocab as v
from avesa_sandbox.helpdesk.tables import AGENTS

FIRST_AGENT_ID = 3
"""Ids 1 and 2 belong to the account owner and the API user, which are not agents."""


def ascii_slug(text: str) -> str:
    """Lowercase ASCII letters and digits only (``Sørensen`` -> ``sorensen``), for e-mail addresses."""
    folded = unicodedata.normalize("NFKD", text.replace("ø", "o").replace("Ø", "O"))
    return "".join(ch for ch in folded.lower() if ch.isascii() and ch.isalnum())


def roster(seed: int, instance: str, scale: str) -> list[dict[str, Any]]:
    """The agents of an instance: unique names, e-mail at the MSP's own domain."""
    rng = random.Random(f"{seed}/{instance}/helpdesk/agents")
    size = AGENTS.get(scale, AGENTS["small"])
    names: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    while len(names) < size:
        name = (rng.choice(v.FIRST_NAMES), rng.choice(v.LAST_NAMES))
        if name not in seen:
            seen.add(name)
            names.append(name)
    domain = f"{instance}-msp.example"
    return [
        {"id": FIRST_AGENT_ID + i, "name": f"{first} {last}",
         "email": f"{ascii_slug(first)}.{ascii_slug(last)}@{domain}"}
        for i, (first, last) in enumerate(names)
    ]
