"""Lambda memory per tier, for the cost model (MB).

The tier plans themselves (concurrency, memory, provisioned concurrency per tier) belong to
``chalicelib/core/concurrency/plan.py``; until the cost model reads that plan, this table holds
the memory sizes the deployment uses today: ``free`` is the ``dev`` stage of
``.chalice/config.json`` (512 MB), ``pro`` its ``prod`` stage (1024 MB), ``enterprise`` 1769 MB,
the size at which Lambda gives a function one full vCPU (AWS Lambda docs, "Configuring memory").
Provisioned concurrency is not modelled.
"""

from __future__ import annotations

#: tier -> {"edge": MB, "worker": MB}
TIERS: dict[str, dict[str, int]] = {
    "free": {"edge": 512, "worker": 512},
    "pro": {"edge": 1024, "worker": 1024},
    "enterprise": {"edge": 1769, "worker": 1769},
}


def memory_mb(tier: str, function: str) -> int:
    """Configured memory (MB) of ``function`` (``edge`` or ``worker``) in ``tier``. Raises
    ValueError for an unknown tier or function."""
    try:
        return TIERS[tier][function]
    except KeyError:
        raise ValueError(f"no memory size for {function!r} in tier {tier!r}") from None
