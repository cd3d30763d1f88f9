"""Local, stateful simulators of the five APIs JobSync talks to (see ``server.py``)."""

from jobsync_sandbox.server import FaultRule, Sandbox

__all__ = ["FaultRule", "Sandbox"]
