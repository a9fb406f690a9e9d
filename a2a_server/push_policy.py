"""Which push-notification URLs this server will call (A2A 1.0 section 13.2, SSRF).

Any tenant can register a webhook URL, and the server then POSTs to it from
inside the deployment's network. So a URL must be ``http``/``https`` and its
host must resolve to public unicast addresses only: loopback, private
(10/8, 172.16/12, 192.168/16, fc00::/7), shared (100.64/10), link-local
(including 169.254.169.254, cloud metadata), multicast, reserved and
unspecified addresses are refused, judged as the SDK's
``a2a.utils.push_url_validator`` judges them. An IPv6 address that embeds an
IPv4 address (IPv4-mapped, -compatible and -translated, 6to4 ``2002::/16``,
Teredo ``2001::/32``, NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``) is judged
by the IPv4 address inside, which is where a relay or translator delivers it.

``check_config_fields`` refuses, at registration, a token or credentials with
control characters (CR/LF would split the delivery's headers).

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

Cost: a URL's scheme, host and port are parsed once (an LRU of 1,024 URLs). A
host that is an IP literal (``127.0.0.1``, ``[2001:db8::1]``) is judged as it
is, without a lookup (``getaddrinfo`` of a literal returns the literal; other
numeric spellings such as ``2130706433`` or ``127.1`` still go through the
resolver, which is what turns them into addresses), and that verdict, which
cannot change, is kept in an LRU of ``RESOLUTION_CACHE_SIZE`` literals. A
host name's answer, with
the judgement of its addresses, is kept ``RESOLUTION_TTL_S`` seconds in a bounded
cache (``RESOLUTION_CACHE_SIZE`` hosts, the oldest dropped first), failures
included; the allowlist is fixed for the policy's life, so only the resolver's
answer can change the verdict. That is safe because
the check never pinned the connection anyway: the HTTP client resolves the
name again when it connects, so a name that changes between the check and the
connection was always possible (DNS rebinding is judged by the resolver's
answer at check time, cached or not), and the cache only delays by at most
``RESOLUTION_TTL_S`` seconds the moment a re-pointed name stops being called,
less than the TTL most resolvers already honour.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
import re
import socket
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from cachetools import TTLCache

logger = logging.getLogger(__name__)

PushUrlValidator = Callable[[str], Awaitable[bool]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

RESOLUTION_TTL_S = 10.0
RESOLUTION_CACHE_SIZE = 1024

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


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.ip_network("::/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0/96")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (none for a plain address)."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        return list(address.teredo)  # (server, client)
    packed = address.packed
    if address in _NAT64_LOCAL:  # RFC 6052 /48 layout: a.b in bytes 6-7, c.d in bytes 9-10
        return [ipaddress.IPv4Address(packed[6:8] + packed[9:11])]
    if address in _NAT64 or address in _TRANSLATED or (
            address in _COMPATIBLE and int(address) > 1):
        return [ipaddress.IPv4Address(packed[12:])]
    return []


def _is_public_unicast(address: Address) -> bool:
    return address.is_global and not (
        address.is_loopback or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified
    )


def is_public(address: Address) -> bool:
    """A global unicast address; one that embeds IPv4 addresses is judged by them."""
    inner = embedded_ipv4(address)
    if inner:
        return all(_is_public_unicast(a) for a in inner)
    return _is_public_unicast(address)


def check_config_fields(token: str, credentials: str, scheme: str) -> str | None:
    """What is wrong with a push config's token or authentication, if anything."""
    for name, value in (("token", token), ("authentication.credentials", credentials),
                        ("authentication.scheme", scheme)):
        if value and _CONTROL.search(value):
            return f"push notification {name} must not contain control characters (CR, LF, ...)"
    return None


@functools.lru_cache(maxsize=1024)
def _target(url: str) -> tuple[str, int] | None:
    """The host (lower case, no trailing dot) and port a URL calls; None if it is not an
    ``http``/``https`` URL with a host. Kept per URL: it depends on the string alone."""
    try:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
    except ValueError:
        return None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None
    host = parsed.hostname.lower().rstrip(".")
    return host, port or (443 if parsed.scheme == "https" else 80)


@dataclass(frozen=True)
class _Answer:
    addresses: frozenset[Address] | None  # None: the host did not resolve
    refused: tuple[str, ...]  # those neither public nor in the allowlist's networks


@dataclass(frozen=True)
class PushUrlPolicy:
    """The URL policy; ``for_registration`` and ``for_delivery`` are the SDK hooks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    resolution_ttl_s: float = RESOLUTION_TTL_S  # how long a host name's answer is kept
    # host -> its addresses and the refused ones, see the module docstring
    _resolved: TTLCache[str, _Answer] = field(
        init=False, compare=False, hash=False, repr=False)
    _literal: Callable[[str], _Answer | None] = field(
        init=False, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_resolved",
                           TTLCache(RESOLUTION_CACHE_SIZE, self.resolution_ttl_s))
        # An IP literal's answer never changes: kept in a (C) LRU, without expiry checks.
        object.__setattr__(self, "_literal",
                           functools.lru_cache(maxsize=RESOLUTION_CACHE_SIZE)(self._judge_literal))

    @classmethod
    def from_allowlist(cls, entries: Iterable[str],
                       resolution_ttl_s: float = RESOLUTION_TTL_S) -> PushUrlPolicy:
        """A policy exempting ``entries`` (see ``parse_allowlist``)."""
        hosts, networks = parse_allowlist(entries)
        return cls(hosts, networks, resolution_ttl_s)

    async def _judge(self, url: str, *, unresolvable_ok: bool) -> bool:
        target = _target(url)
        if target is None:
            return False
        host, port = target
        if host in self.hosts:
            return True
        answer = await self._answer(host, port)
        if answer.addresses is None:
            return unresolvable_ok
        if answer.refused:
            logger.warning("push URL %s refused: %s resolves to %s, which is not public and "
                           "not in push_url_allowlist", url, host, list(answer.refused))
        return bool(answer.addresses) and not answer.refused

    async def _answer(self, host: str, port: int) -> _Answer:
        """What ``host`` stands for and which of its addresses are refused, kept
        ``resolution_ttl_s`` (judging an address walks ``ipaddress``'s tables: not free
        either). An IP literal stands for itself; a name is asked of the resolver."""
        literal = self._literal(host)
        if literal is not None:
            return literal
        with contextlib.suppress(KeyError):  # absent or expired
            return self._resolved[host]
        addresses: frozenset[Address] | None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                                 type=socket.SOCK_STREAM)
            addresses = frozenset(
                ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos)
        except (OSError, ValueError):
            addresses = None
        answer = self._resolved[host] = self._judged(addresses)
        return answer

    def _judge_literal(self, host: str) -> _Answer | None:
        """An IP-literal host's answer (itself); None for a name."""
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return None
        return self._judged(frozenset({address}))

    def _judged(self, addresses: frozenset[Address] | None) -> _Answer:
        refused = tuple(sorted(str(a) for a in addresses or ()
                               if not is_public(a) and not self._allowed(a)))
        return _Answer(addresses, refused)

    def _allowed(self, address: Address) -> bool:
        """In the allowlist's networks (an embedding address: every IPv4 inside it is)."""
        inner: list[Address] = [*embedded_ipv4(address)] or [address]
        return all(any(a in network for network in self.networks) for a in inner)

    async def for_registration(self, url: str) -> bool:
        """Whether a client may register ``url`` (an unresolvable host is accepted)."""
        return await self._judge(url, unresolvable_ok=True)

    async def for_delivery(self, url: str) -> bool:
        """Whether the server may POST to ``url`` now (an unresolvable host is refused)."""
        return await self._judge(url, unresolvable_ok=False)
