"""Which push-notification URLs this server will call (A2A 1.0 section 13.2, SSRF).

Any tenant can register a webhook URL, and the server then POSTs to it from
inside the deployment's network. So a URL must be ``http``/``https`` and its
host must resolve to public unicast addresses only: loopback, private
(10/8, 172.16/12, 192.168/16, fc00::/7), shared (100.64/10), link-local
(including 169.254.169.254, cloud metadata), multicast, reserved and
unspecified addresses are refused, judged as the SDK's
``a2a.utils.push_url_validator`` judges them.

``push_url_allowlist`` (setting) exempts hosts or networks, for webhooks
that really are internal (or the A2A TCK's receiver on loopback): an entry
is a host name (exact, case-insensitive match of the URL's host) or an IP
network in CIDR form (every address the host resolves to must lie in the
allowed networks).

Two checks use this policy:

- at registration (``CreateTaskPushNotificationConfig``, or a config inline
  in ``SendMessage``), a refused URL is an ``InvalidParamsError``; a host that
  does not resolve *now* is accepted, since it cannot reach anything yet;
- before every delivery, the URL is judged again, and a host that does not
  resolve is refused (fail closed), so a name re-pointed at an internal
  address after registration gets nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

PushUrlValidator = Callable[[str], Awaitable[bool]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$")


def parse_allowlist(entries: Iterable[str]) -> tuple[frozenset[str], tuple[Network, ...]]:
    """Split allowlist entries into host names and IP networks.

    Raises:
        ValueError: an entry is neither a host name nor an IP network.
    """
    hosts: set[str] = set()
    networks: list[Network] = []
    for raw in entries:
        entry = raw.strip().lower().rstrip(".")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        if not _HOST.match(entry):
            raise ValueError(f"'{raw}' is neither a host name nor an IP network (CIDR)")
        hosts.add(entry)
    return frozenset(hosts), tuple(networks)


def is_public(address: Address) -> bool:
    """A global unicast address (an IPv4-mapped IPv6 address is judged as its IPv4)."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_global and not (
        address.is_loopback or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified
    )


@dataclass(frozen=True)
class PushUrlPolicy:
    """The URL policy; ``for_registration`` and ``for_delivery`` are the SDK hooks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def from_allowlist(cls, entries: Iterable[str]) -> PushUrlPolicy:
        """A policy exempting ``entries`` (see ``parse_allowlist``)."""
        hosts, networks = parse_allowlist(entries)
        return cls(hosts, networks)

    async def _judge(self, url: str, *, unresolvable_ok: bool) -> bool:
        try:
            parsed = urllib.parse.urlsplit(url)
            port = parsed.port
        except ValueError:
            return False
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            return False
        host = parsed.hostname.lower().rstrip(".")
        if host in self.hosts:
            return True
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port or (443 if parsed.scheme == "https" else 80), type=socket.SOCK_STREAM
            )
            addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
        except (OSError, ValueError):
            return unresolvable_ok
        refused = [a for a in addresses
                   if not is_public(a) and not any(a in network for network in self.networks)]
        if refused:
            logger.warning("push URL %s refused: %s resolves to %s, which is not public and "
                           "not in push_url_allowlist", url, host, sorted(map(str, refused)))
        return bool(addresses) and not refused

    async def for_registration(self, url: str) -> bool:
        """Whether a client may register ``url`` (an unresolvable host is accepted)."""
        return await self._judge(url, unresolvable_ok=True)

    async def for_delivery(self, url: str) -> bool:
        """Whether the server may POST to ``url`` now (an unresolvable host is refused)."""
        return await self._judge(url, unresolvable_ok=False)
