"""What the state machine reports: transitions, trips and refused calls (for metrics)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.core.breaker.state import CircuitState

#: Who made a transition: the machine (``AUTO``) or an operator (``MANUAL``).
AUTO = "auto"
MANUAL = "manual"


@dataclass(frozen=True)
class StateTransition:
    from_state: CircuitState
    to_state: CircuitState
    at: float
    kind: str = AUTO


@dataclass(frozen=True)
class Tripped:
    """The breaker opened: rates in percent over ``calls`` calls of the window."""

    at: float
    failure_rate: float
    slow_call_rate: float
    calls: int


@dataclass(frozen=True)
class CallNotPermitted:
    at: float
    state: CircuitState
    retry_after_s: float


Event = StateTransition | Tripped | CallNotPermitted
