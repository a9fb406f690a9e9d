"""What the server hands an executor that needs more than its binding's options.

An executor class that defines ``bind_services(services: AgentServices)`` gets it
called once, right after it is built for an agent's runtime (the ``remote``
executor judges outbound URLs with ``url_policy``). Executors without the method
are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from a2a_server.push_policy import PushUrlPolicy
from a2a_server.stores.base import Stores


@dataclass(frozen=True, slots=True)
class AgentServices:
    """The deployment's stores and its outbound-URL policy (``push_url_allowlist``)."""

    stores: Stores
    url_policy: PushUrlPolicy


def bind_services(executor: Any, services: AgentServices) -> None:
    """Give ``executor`` the services, if it asks for them (``bind_services``)."""
    bind = getattr(executor, "bind_services", None)
    if callable(bind):
        bind(services)
