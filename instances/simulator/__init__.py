"""A fake Evolution API gateway: a real HTTP server on loopback for the demo, tests and benchmarks.

The package, from the bottom up: each module imports only modules listed before it.

- ``shapes``: the JSON Evolution answers and posts, and ``SimInstance``; pure functions.
- ``http``: a minimal asyncio HTTP/1.1 server (``HttpServer``, ``Request``, ``Response``).
- ``routes``: how a request is answered: routes, auth, faults, error bodies.
- ``webhooks``: the sender that posts Evolution webhooks in order, off the request path.
- ``demo``: the demo fleet and ``FleetDriver``, which keeps it sending and changing state.
- ``server``: ``GatewaySimulator``, the fleet's state and the server's lifecycle.
- ``script``: timed JSON scripts of state changes, messages and faults.

It has no Django imports: the ``simulate_gateway`` command and the benchmarks configure it.
"""

from instances.simulator.demo import FleetDriver
from instances.simulator.script import ScriptError, ScriptPlayer, check_names, load_script
from instances.simulator.server import GatewaySimulator
from instances.simulator.shapes import SimInstance

__all__ = [
    "FleetDriver",
    "GatewaySimulator",
    "ScriptError",
    "ScriptPlayer",
    "SimInstance",
    "check_names",
    "load_script",
]
