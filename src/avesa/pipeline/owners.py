"""Who is working on what: is a run's owner process still alive?"""

from __future__ import annotations

import os
import socket


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
