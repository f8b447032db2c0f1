"""Who is working on what: is a run's owner still at work on it?

One rule, used by everything that asks — resuming (`avesa run`, `avesa jobs resume`), abandoning
(`avesa jobs cleanup-stuck`, asked again inside the ledger's transaction) and what `avesa jobs
list/show` and `avesa status` call a run."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from avesa.state.ledger_records import RunRecord


def owner_alive(owner: str) -> bool | None:
    """True/False for an owner (`host:pid`) on this host; None when it ran elsewhere (then leases
    and run status decide)."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_gone(run: RunRecord, leases: list[datetime], now: datetime, lease_seconds: float) -> str | None:
    """Why the owner of a running `run` is gone, or None while it is (or may be) at work on it.

    On this host, the owner's process decides. Elsewhere only the ledger can tell: while it runs,
    the owner renews the run's lease and the lease of each chunk it is reading, every third of a
    lease, whatever it is doing (slow pages, 429 waits, planning, merging). So a remote owner is
    gone once none of the run's `leases` (their expiry times) is live and the run is older than
    a lease (a run not yet renewed even once is given one)."""
    alive = owner_alive(run.owner)
    if alive is not None:
        return None if alive else f"its owner {run.owner} is gone"
    if any(expires > now for expires in leases) or run.started_at + timedelta(seconds=lease_seconds) > now:
        return None
    since = max(leases, default=run.started_at)
    return f"its owner {run.owner} on another host has renewed no lease since {since:%Y-%m-%d %H:%M:%S} UTC"
