"""Attestations through the facade (issue 11): an authority organization vouches for a fact about a
product, lot or plot, as a format v2 chain in the log (``ledger.attestations`` writes and checks them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger import attestations
from ledger.service.base import LedgerBase


class Attestations(LedgerBase):
    def attest(self, authority: str, about: Mapping[str, Any], claim: Mapping[str, Any]) -> dict[str, Any]:
        """Append a new attestation by the authority organization ``authority`` (slug), signed by its key."""
        return attestations.attest(self, authority, about, claim)

    def revoke_attestation(self, subject: str, by: str | None = None) -> dict[str, Any]:
        """Withdraw the attestation ``attestation:<authority>:<n>``: the log gets its revoked entry.

        ``by``: the authority (slug) asking, which must be the issuer; None for the operator."""
        return attestations.revoke(self, subject, by)

    def attestations_about(self, kind: str, ident: str) -> list[dict[str, Any]]:
        """The active attestations about ``kind``/``ident`` that verify from the log, with who vouches."""
        return attestations.about(self, kind, ident)

    def lot_attestations(self, lot_id: str, plot: str | None = None) -> list[dict[str, Any]]:
        """The active attestations about the lot's product (its GTIN), the lot itself and its ``plot`` (the
        growing-area code its commissioning declares, ``ledger.core.codes.plot_id``)."""
        with self._read() as conn:
            found = attestations.about_in(conn, "product", lot_id[:14]) + attestations.about_in(conn, "lot", lot_id)
            return found + (attestations.about_in(conn, "plot", plot) if plot else [])

    def codes_vouched(self, lot_id: str, ilmd: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
        """The lot's declared codes against the authorities' attestations (``ledger.attestations.codes_vouched``)."""
        with self._read() as conn:
            return attestations.codes_vouched(conn, lot_id, ilmd)

    def stars_vouched(self, lot_id: str, declared: Mapping[str, Any]) -> dict[str, Any]:
        """The OCOP rating shown for a lot and who vouches for it (``ledger.attestations.stars_vouched``)."""
        with self._read() as conn:
            return attestations.stars_vouched(conn, lot_id, declared)
