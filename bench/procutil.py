"""Small helpers the benchmarks share that are not Charla: the loopback guard, the
open-files limit and one percentile.

Role: ``loadgen.py`` must stay server-neutral (it measures ngIRCd alike), so it imports
these from here rather than from anything in Charla or tests/. The programs the
benchmarks start (servidor.py, ngIRCd, Xvfb) are launched by the tests' helpers in
``tests/support.py``; see ``servers.py``.

Threading: none; every function is synchronous and returns at once.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import resource
from collections.abc import Sequence

LOG = logging.getLogger(__name__)


def require_loopback(host: str) -> str:
    """Return ``host`` as an IP literal if it is a loopback address, else raise ValueError."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError as exc:
        raise ValueError(f"host must be a loopback IP literal, got {host!r}") from exc
    if not addr.is_loopback:
        raise ValueError(f"refusing non-loopback address {host!r}")
    return str(addr)


def raise_nofile_limit() -> int:
    """Raise the RLIMIT_NOFILE soft limit to the hard limit (programs started afterwards
    inherit it: 2,000 clients need as many descriptors); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        target = max(soft, 1 << 20) if soft != resource.RLIM_INFINITY else soft
    else:
        target = hard
    if soft != target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            LOG.warning("could not raise RLIMIT_NOFILE from %s to %s: %s", soft, target, exc)
    return soft


def percentile(sorted_values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted sequence (None if it is empty).

    >>> percentile([1, 2, 3, 4], 50), percentile([1, 2, 3, 4], 99), percentile([], 50)
    (2.0, 4.0, None)
    """
    if not sorted_values:
        return None
    rank = math.ceil(pct / 100.0 * len(sorted_values))
    return float(sorted_values[min(len(sorted_values) - 1, max(0, rank - 1))])
