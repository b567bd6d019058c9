"""Everything about talking to the Evolution gateway.

``client`` is the one HTTP seam (every call with a deadline); ``parsing`` reads both API shapes;
``errors`` says whether the gateway or one instance failed; ``states`` is the one place that
decides what a state and a disconnect code mean — connected, banned, a terminal close.
"""

from instances.gateway.client import EvolutionClient, ProbeResult, gateway_failure
from instances.gateway.errors import GatewayErrorKind, GatewayUnavailable, InstanceRequestFailed, ProbeFailure
from instances.gateway.parsing import GatewayInstance, parse_connection_state, parse_datetime, parse_instance_row
from instances.gateway.states import Observation, resolve
from instances.gateway.validation import RejectedRow

__all__ = [
    "EvolutionClient",
    "GatewayErrorKind",
    "GatewayInstance",
    "GatewayUnavailable",
    "InstanceRequestFailed",
    "Observation",
    "ProbeFailure",
    "ProbeResult",
    "RejectedRow",
    "gateway_failure",
    "parse_connection_state",
    "parse_datetime",
    "parse_instance_row",
    "resolve",
]
