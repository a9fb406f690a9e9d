"""Who is calling, for which tenant: one immutable ``Principal`` per request.

Credentials are an ``Authorization: Bearer <jwt>`` issued by this server, or
an API key as ``X-API-Key`` or as a non-JWT bearer value. The tenant may also
be named by the ``Tenant-Name`` header (Corti), a ``/{tenant}`` path segment or
the JSON-RPC ``params.tenant`` (A2A); every source present must agree with the
tenant the credentials belong to.

Outcomes: no or bad credentials, credentials of a tenant that no longer
exists, or a token of an OAuth client its tenant file no longer lists -> 401;
a named tenant that differs from the credentials' -> 403. The same answer is
given whether or not a named tenant exists, so tenants cannot be enumerated.
Ambiguous credentials are refused, never "first one wins": two ``X-API-Key``
or ``Authorization`` headers, or an API key and a bearer credential of
different tenants -> 401; two ``Tenant-Name`` headers that differ -> 400.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from a2a_server.tenancy.config import TenantConfig, TenantRegistry, TenantSnapshot
from a2a_server.tenancy.tokens import InvalidToken, TokenIssuer, looks_like_jwt

TENANT_HEADER = "tenant-name"
API_KEY_HEADER = "x-api-key"
PRINCIPAL_KEY = "a2a_server.principal"  # where the gate leaves the Principal in the ASGI scope


class _Request(Protocol):
    """What ``authenticate_request`` needs of a request (Starlette's has both)."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def scope(self) -> MutableMapping[str, Any]: ...

    @property
    def query_params(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class Principal:
    """The authenticated caller; every later step reads the tenant from here only."""

    tenant: str
    subject: str
    method: str  # "jwt" | "api_key"

    @property
    def display_name(self) -> str:
        """``tenant/subject``, for logs."""
        return f"{self.tenant}/{self.subject}"


class AuthError(Exception):
    """Authentication or tenant resolution failed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _live_tenant(principal: Principal, tenants: TenantSnapshot) -> TenantConfig | None:
    """The tenant of ``principal``'s credentials, or None if they no longer count: the tenant
    was removed (as good as no credentials), or a token's client was removed from the tenant
    file (a token, perhaps from the verified-token cache, is revoked with its client, not left
    to run until its exp)."""
    tenant = tenants.get(principal.tenant)
    if tenant is None or (principal.method == "jwt"
                          and not tenants.has_client(principal.tenant, principal.subject)):
        return None
    return tenant


class Authenticator:
    """Turns request credentials and tenant hints into a ``Principal``."""

    def __init__(self, tenants: TenantRegistry, tokens: TokenIssuer) -> None:
        self._tenants = tenants
        self._tokens = tokens

    def authenticate(
        self, headers: Mapping[str, str], tenant_hints: tuple[str | None, ...] = ()
    ) -> tuple[Principal, TenantConfig]:
        """Resolve the caller.

        Args:
            headers: request headers (case-insensitive mapping).
            tenant_hints: tenants named elsewhere in the request (path, body).

        Raises:
            AuthError: 401 for missing/bad credentials, 403 for a tenant mismatch.
        """
        try:  # inline, not a wrapper's frame: ``refused`` costs nothing on success
            names, keys, authorizations = _credential_headers(headers)
            tenants = self._tenants.current  # one snapshot for the whole request (reloads swap it)
            principal = self._principal_from_credentials(keys, authorizations, tenants)
            if len(set(names)) > 1:
                raise AuthError(400, "the Tenant-Name header is given more than once, with "
                                "different values")
            tenant = _live_tenant(principal, tenants)
            if tenant is None:
                raise AuthError(401, "invalid credentials")
            named = [*names, *tenant_hints]
            for hint in named:
                if hint and hint != principal.tenant:
                    raise AuthError(403, "the credentials do not belong to the requested tenant")
            return principal, tenant
        except AuthError as exc:
            self.refused(headers, exc)
            raise

    def identify(self, headers: Mapping[str, str]) -> Principal | None:
        """The caller's ``Principal`` if its credentials are valid, else None.

        For work a request may cause before the gate admits it (loading a tenant-created
        agent): no tenant source is checked and a refusal is not counted, both being left to
        ``authenticate``, which the request meets next.
        """
        _, keys, authorizations = _credential_headers(headers)
        tenants = self._tenants.current
        try:
            principal = self._principal_from_credentials(keys, authorizations, tenants)
        except AuthError:
            return None
        return principal if _live_tenant(principal, tenants) is not None else None

    def refused(self, headers: Mapping[str, str], error: AuthError) -> None:
        """Called with every refusal ``authenticate`` raises (metrics count them)."""

    def authenticate_request(
        self, request: _Request, tenant_hints: tuple[str | None, ...] = ()
    ) -> tuple[Principal, TenantConfig]:
        """``authenticate`` a request that the gate does not admit (agent listing and CRUD,
        usage, contexts, cards...), leaving the Principal in its ASGI scope as the gate does,
        so that its access line names the tenant and the credential. A ``?tenant=`` is one
        more tenant source, as on the A2A routes: it must name the credentials' tenant.

        Raises:
            AuthError: as ``authenticate``.
        """
        hints = (*tenant_hints, request.query_params.get("tenant"))
        principal, tenant = self.authenticate(request.headers, hints)
        request.scope[PRINCIPAL_KEY] = principal
        return principal, tenant

    def _principal_from_credentials(self, keys: list[str], authorizations: list[str],
                                    tenants: TenantSnapshot) -> Principal:
        if len(keys) > 1 or len(authorizations) > 1:
            raise AuthError(401, "ambiguous credentials: send one X-API-Key or one Authorization header")
        bearer = None
        if authorizations:
            scheme, _, value = authorizations[0].partition(" ")
            bearer = value.strip()
            if not bearer or scheme.lower() != "bearer":
                raise AuthError(401, "unsupported Authorization scheme; use Bearer")
        if not keys and not bearer:
            raise AuthError(401, "credentials required: Authorization: Bearer <token> or X-API-Key")
        from_key = self._from_api_key(keys[0], tenants) if keys else None
        from_bearer = self._from_bearer(bearer, tenants) if bearer else None
        if from_key and from_bearer and from_key.tenant != from_bearer.tenant:
            raise AuthError(401, "ambiguous credentials: the API key and the bearer credential "
                                 "belong to different tenants")
        principal = from_bearer or from_key
        assert principal is not None
        return principal

    def _from_bearer(self, bearer: str, tenants: TenantSnapshot) -> Principal:
        # The verified-token cache first: only JWTs that verified are in it, so a hit is
        # what the shape test and ``verify`` would have answered, without them; a miss
        # goes straight to the full check (``verify`` would ask the cache again).
        claims = self._tokens.cached(bearer)
        if claims is None:
            if not looks_like_jwt(bearer):
                return self._from_api_key(bearer, tenants)
            try:
                claims = self._tokens.verify_uncached(bearer)
            except InvalidToken as exc:
                raise AuthError(401, f"invalid access token: {exc}") from exc
        return Principal(claims.tenant, claims.client_id, "jwt")

    @staticmethod
    def _from_api_key(key: str, tenants: TenantSnapshot) -> Principal:
        owner = tenants.owner_of_key(key)
        if owner is None:
            raise AuthError(401, "invalid API key")
        return Principal(owner.tenant, f"key:{owner.key_name}", "api_key")


_CREDENTIAL_SLOTS = {TENANT_HEADER.encode(): 0, API_KEY_HEADER.encode(): 1, b"authorization": 2}


def _credential_headers(headers: Mapping[str, str]) -> tuple[list[str], list[str], list[str]]:
    """Every non-empty ``Tenant-Name``, ``X-API-Key`` and ``Authorization`` value, in that
    order: one pass over the raw header list of a Starlette ``Headers`` (names are lower
    case in ASGI, values latin-1, as ``Headers.getlist`` decodes them), else three lookups."""
    raw: list[tuple[bytes, bytes]] | None = getattr(headers, "raw", None)
    if raw is None:
        return (_all(headers, TENANT_HEADER), _all(headers, API_KEY_HEADER),
                _all(headers, "authorization"))
    found: tuple[list[str], list[str], list[str]] = ([], [], [])
    slots = _CREDENTIAL_SLOTS
    for name, value in raw:
        slot = slots.get(name)
        if slot is not None and value:
            found[slot].append(value.decode("latin-1"))
    return found


def _all(headers: Mapping[str, str], name: str) -> list[str]:
    """Every value of header ``name`` (Starlette's ``Headers`` keeps repeats)."""
    getlist = getattr(headers, "getlist", None)
    if getlist is not None:
        return [value for value in getlist(name) if value]
    value = headers.get(name)
    return [value] if value else []
