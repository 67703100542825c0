"""Against a real anvil: when the chain cannot answer, /verify, the scan page, the shipment JSON and the
certificate say ``unverifiable`` (issue 11 item 5), never ``tampered`` and no longer ``pending``."""

from __future__ import annotations

import pytest

from ledger.chain.check import anchor_check_for
from ledger.exports import certificate
from tests.api.anvil_support import GTIN, ChainWorld
from tests.api.test_chain import quoted

pytestmark = pytest.mark.chain


def test_a_silent_chain_is_unverifiable_everywhere(chain_world: ChainWorld) -> None:
    lot = chain_world.new_lot("SILENT/1", events=2)
    chain_world.anchor()
    client = chain_world.client()
    assert client.get(f"/api/v1/lots/{quoted(lot)}/verify").json()["verdict"] == "verified"
    chain_world.devchain.stop()
    client = chain_world.client()  # a fresh app: a verdict already cached stays as it was checked
    body = client.get(f"/api/v1/lots/{quoted(lot)}/verify").json()
    assert body["verdict"] == "unverifiable" and body["anchor"]["status"] == "unreachable"
    page = client.get(f"/01/{GTIN}/10/{quoted(lot).split('.', 1)[1]}?lang=en", headers={"Accept": "text/html"})
    assert page.status_code == 200 and 'data-verdict="unverifiable"' in page.text
    assert "Cannot be verified" in page.text
    cert = certificate.build(
        chain_world.ledger,
        base_url="http://x",
        lot=lot,
        anchor_check=anchor_check_for(chain_world.ledger, chain_world.chain),
    )
    assert cert.verdict == "unverifiable"
    assert cert.log_key_id == chain_world.ledger.trust_roots()["key_id"]  # the certificate names its trust roots
    assert "log key ed25519:" in certificate._trust_text(cert)
    assert certificate.VERDICTS[cert.verdict] == ("KHÔNG KIỂM CHỨNG ĐƯỢC", "UNVERIFIABLE")
