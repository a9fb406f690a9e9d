"""Tenants: their configuration, credentials and how a request is tied to one."""

from a2a_server.tenancy.auth import Authenticator, Principal
from a2a_server.tenancy.config import TenantConfig, TenantRegistry, load_tenants

__all__ = ["Authenticator", "Principal", "TenantConfig", "TenantRegistry", "load_tenants"]
