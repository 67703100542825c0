"""API keys through the facade: create (shown once), list, revoke, and authenticate a bearer token."""

from __future__ import annotations

from typing import Any

from ledger.core.records import OrganizationCreate
from ledger.service.exports import Exports
from ledger.store import apikeys
from ledger.store.apikeys import ROLES, Principal

__all__ = ["ROLES", "Admin", "Principal"]


class Admin(Exports):
    def create_org_with_api_key(self, data: OrganizationCreate, role: str | None) -> dict[str, Any]:
        """Create an organization and, with ``role``, its first API key (checked to suit its kind first)."""
        if role is not None:
            apikeys.check_role(role, data.kind)
        org = self.create_org(data)
        if role is not None:
            with self._write() as conn:
                org["api_key"] = apikeys.create(conn, int(org["id"]), role, "first key")
        return org

    def create_api_key(self, org: str | int, role: str, label: str | None = None) -> dict[str, Any]:
        """A new API key for the organization; the token is in this answer only."""
        with self._write() as conn:
            return apikeys.create(conn, self._org_id(conn, org), role, label)

    def list_api_keys(self, org: str | int) -> list[dict[str, Any]]:
        """The organization's API keys (handles, roles, revocation; never tokens)."""
        with self._read() as conn:
            return apikeys.list_keys(conn, self._org_id(conn, org))

    def revoke_api_key(self, key_id: str) -> dict[str, Any]:
        """Revoke an API key; it is refused from the next request on."""
        with self._write() as conn:
            return apikeys.revoke(conn, key_id)

    def authenticate(self, token: str) -> Principal | None:
        """The caller behind a bearer token; None for an unknown or revoked one."""
        with self._read() as conn:
            return apikeys.authenticate(conn, token)
