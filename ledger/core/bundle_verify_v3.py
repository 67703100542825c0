"""Verifying a version-3 bundle (``docs/bundle.md`` "Version 3"): every check, in order, stopping at the first.

``format`` (``bundle_v3.parse_v3``), ``log_key``, then for every chain ``key``, ``signature``,
``chain``, ``inclusion``; ``heads``, ``completeness``, ``attribution``, ``lineage``,
``membership`` (shipments), ``anchor``, ``anchor_tx`` and ``latest`` (``bundle_anchor``).
Public keys come from the log alone: the ``key`` chains (signed by the log key, with the key's
proof of possession) give every other signer's key and owner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.core import canonical, chaincheck, codes, heads, masterdata, merkle, signing, statements
from ledger.core.bundle_parse import Entries, Parsed
from ledger.core.bundle_v3 import ParsedV3, leaf_of
from ledger.core.trust import Trust
from ledger.errors import InputError, UnverifiableError, VerificationError

CHECKS_V3 = (
    "format", "log_key", "key", "signature", "chain", "inclusion", "heads", "completeness", "attribution",
    "lineage", "membership", "anchor", "anchor_tx",
)  # fmt: skip

Mark = Callable[[str], None]
"""Marks a check as passed in the report."""


def check_log_key(p: ParsedV3, trust: Trust | None) -> None:
    """The bundle's log key hashes to its id and, when pinned, is the operator's (else unverifiable)."""
    kid, pub = p.log_key
    if signing.key_id(pub) != kid:
        raise VerificationError(f"log_key: public key does not hash to {kid}", check="log_key")
    if trust is not None and trust.log_key_id is not None and trust.log_key_id != kid:
        raise UnverifiableError(
            f"the bundle's log key is not the trusted one: expected {trust.log_key_id}, got {kid}",
            check="log_key",
            expected=trust.log_key_id,
            found=kid,
        )


def check_chains(p: ParsedV3, mark: Mark) -> dict[str, bytes]:
    """key, signature, chain and inclusion of every chain; returns the signers' public keys."""
    keys = {p.log_key[0]: p.log_key[1]}
    ordered = sorted(p.chains, key=lambda c: 0 if c[0].startswith("key:") else 1)  # keys first: they sign
    for subject, entries in ordered:
        prev: str | None = None
        last = -1
        for i, (idx, ent, proof) in enumerate(entries):
            try:
                prev, last = _check_entry(p, subject, i, (idx, ent, proof), prev, last, keys, mark)
            except (VerificationError, InputError) as exc:
                err = exc if isinstance(exc, VerificationError) else VerificationError(str(exc), check="chain")
                seq = ent.get("seq") if isinstance(ent.get("seq"), int) else None
                raise err.at(lot=subject, seq=seq, index=idx) from None
    return keys


def _check_entry(
    p: ParsedV3,
    subject: str,
    i: int,
    item: tuple[int, dict[str, Any], list[bytes]],
    prev: str | None,
    last: int,
    keys: dict[str, bytes],
    mark: Mark,
) -> tuple[str, int]:
    idx, ent, proof = item
    kid = str(ent.get("signer"))
    pub = keys.get(kid)
    if pub is None:
        raise VerificationError(f"signer {kid} has no key chain in the bundle", check="key", found=kid)
    mark("key")
    if subject.startswith("lot:"):
        stmt, sig = canonical.split_entry(ent)
        chaincheck.check_signature(pub, kid, stmt, sig)
        mark("signature")
        chaincheck.check_link(subject.removeprefix("lot:"), stmt, i, prev)
    else:
        stmt = statements.verify_entry(ent, pub)
        mark("signature")
        _check_v2_link(subject, stmt, i, prev)
        if subject.startswith("key:") and i == 0:
            keys[subject.removeprefix("key:")] = statements.registered_key(stmt)
    if not last < idx < p.heads[0]:
        raise VerificationError(
            f"log index out of order or not before the heads entry: expected {last} < index < {p.heads[0]}, got {idx}",
            check="inclusion",
        )
    mark("chain")
    leaf = merkle.leaf_hash(leaf_of(ent, subject))
    chaincheck.check_inclusion(leaf, idx, p.size, proof, p.root)
    mark("inclusion")
    return leaf.hex(), idx


def _check_v2_link(subject: str, stmt: dict[str, Any], i: int, prev: str | None) -> None:
    if stmt["subject"] != subject or stmt["seq"] != i or stmt["prev"] != prev:
        raise VerificationError(
            f"{subject} entry {i}: expected subject {subject}, seq {i}, prev {prev}; "
            f"got {stmt['subject']}, seq {stmt['seq']}, prev {stmt['prev']}",
            check="chain",
        )


def check_heads(p: ParsedV3) -> dict[str, Any]:
    """The heads entry is signed by the log key, at index size - 1, describes [0, index), and is included."""
    idx, ent, proof = p.heads
    try:
        stmt = statements.verify_entry(ent, p.log_key[1])
        heads.check_heads_body(stmt["body"])
    except InputError as exc:
        raise VerificationError(f"heads entry: {exc}", check="heads", index=idx) from None
    except VerificationError as exc:
        raise VerificationError(f"heads entry: {exc}", check="heads", index=idx) from None
    body = stmt["body"]
    if stmt["kind"] != "heads" or idx != p.size - 1 or body["size"] != idx:
        raise VerificationError(
            f"heads entry: expected kind heads at index {p.size - 1} describing size {p.size - 1}, "
            f"got {stmt['kind']} at index {idx} describing size {body['size']}",
            check="heads",
            index=idx,
        )
    try:
        chaincheck.check_inclusion(merkle.leaf_hash(statements.entry_bytes(ent)), idx, p.size, proof, p.root)
    except VerificationError as exc:
        raise VerificationError(f"heads entry not included: {exc}", check="heads", index=idx) from None
    return dict(body)


def check_completeness(p: ParsedV3, body: dict[str, Any]) -> None:
    """Every chain ends at its subject's head in the map, and a shipment's lots are the map's members."""
    root, size = bytes.fromhex(body["map_root"]), int(body["map_size"])
    leaves = [heads.verify_map_proof(item, root, size) for item in p.map]
    keys = [str(lf["key"]) for lf in leaves]
    if not heads.sorted_keys_distinct(keys):
        raise VerificationError("map: proofs must be in strictly increasing key order", check="completeness")
    by_key = dict(zip(keys, leaves, strict=True))
    want = {s for s, _ in p.chains} | ({heads.sscc_key(p.subject)} if p.kind == "shipment" else set())
    if set(keys) != want:
        missing, extra = sorted(want - set(keys)), sorted(set(keys) - want)
        raise VerificationError(
            f"map: expected a proof per chain, missing {missing}, extra {extra}", check="completeness"
        )
    for subject, entries in p.chains:
        _check_chain_head(subject, entries, by_key[subject])
    _check_attestations_belong(p)
    if p.kind == "shipment":
        members = by_key[heads.sscc_key(p.subject)]["members"]
        if sorted(p.lots) != members:
            raise VerificationError(
                f"shipment {p.subject}: lots {sorted(p.lots)} are not what it holds as of the heads entry: {members}",
                check="completeness",
                expected=members,
                found=sorted(p.lots),
            )


def lot_plots(p: ParsedV3) -> dict[str, dict[str, Any]]:
    """lot id -> the ``ilmd`` its commissioning entry signs ({} for a lot not commissioned in its chain)."""
    out: dict[str, dict[str, Any]] = {}
    for subject, entries in p.chains:
        if subject.startswith("lot:"):
            event = entries[0][1].get("event") if entries else None
            ok = isinstance(event, dict) and event.get("bizStep") == "commissioning"
            ilmd = event.get("ilmd") if ok and isinstance(event, dict) else None
            out[subject.removeprefix("lot:")] = ilmd if isinstance(ilmd, dict) else {}
    return out


def _check_attestations_belong(p: ParsedV3) -> None:
    """Every attestation chain is about a lot of the bundle, the product (GTIN) of one, or one's plot (the
    growing-area code its commissioning declares): an attestation about anything else is an unsigned extra."""
    ilmds = lot_plots(p)
    wanted = {("lot", lot) for lot in ilmds} | {("product", lot.split(".", 1)[0]) for lot in ilmds}
    wanted |= {("plot", plot) for plot in map(codes.plot_id, ilmds.values()) if plot is not None}
    for subject, entries in p.chains:
        if not subject.startswith("attestation:"):
            continue
        about = entries[-1][1]["body"].get("about") or {}
        if (about.get("type"), about.get("id")) not in wanted:
            raise VerificationError(
                f"{subject}: about {about.get('type')} {about.get('id')}, which is no lot of the bundle, "
                "the product of one or its plot",
                check="completeness",
                found=f"{about.get('type')}:{about.get('id')}",
            )


def _check_chain_head(subject: str, entries: Entries, leaf: dict[str, Any]) -> None:
    idx, ent, _ = entries[-1]
    got = (ent.get("seq"), merkle.leaf_hash(leaf_of(ent, subject)).hex(), idx)
    want = (leaf["seq"], leaf["head"], leaf["index"])
    if got != want:
        raise VerificationError(
            f"{subject}: the bundle's last entry is not the subject's head as of the heads entry: "
            f"expected seq {want[0]} at index {want[2]}, got seq {got[0]} at index {got[2]} (entries left out)",
            check="completeness",
            lot=subject,
            expected=want[0],
            found=got[0],
        )


def check_attribution(p: ParsedV3) -> None:
    """Each signer is registered (in the log) to an organization that may sign the entry, unrevoked then."""
    chains = {s: [e for _, e, _ in ents] for s, ents in p.chains}
    for subject, ents in chains.items():
        for ent in ents:
            kid = str(ent["signer"])
            if kid == p.log_key[0] or subject.startswith("key:"):
                continue  # the operator's own entries (org, key): signed by the log key, checked above
            owner = _owner(chains, kid, ent, subject)
            if f"org:{owner}" not in chains:
                raise VerificationError(
                    f"{subject}: signer's organization {owner} has no org chain", check="attribution"
                )
            _check_may_sign(chains, subject, ent, owner)


def _owner(chains: dict[str, list[dict[str, Any]]], kid: str, ent: dict[str, Any], subject: str) -> str:
    key_entries = chains.get(f"key:{kid}", [])
    if subject.startswith("lot:"):
        event: dict[str, Any] = ent["event"] if isinstance(ent.get("event"), dict) else {}
        return masterdata.key_owner(key_entries, kid, str(event.get("recordTime") or event.get("eventTime")))
    state = masterdata.key_state(key_entries) if key_entries else None
    if state is None or state["revoked"] is not None:
        raise VerificationError(f"{subject}: signer {kid} is not a registered, unrevoked key", check="attribution")
    return str(state["org"])


def _check_may_sign(chains: dict[str, list[dict[str, Any]]], subject: str, ent: dict[str, Any], owner: str) -> None:
    if subject.startswith("product:") and ent["body"].get("org") != owner:
        raise VerificationError(
            f"{subject}: signed by a key of {owner}, the product belongs to {ent['body'].get('org')}",
            check="attribution",
        )
    if subject.startswith("attestation:") and masterdata.org_kind(chains[f"org:{owner}"]) != "authority":
        raise VerificationError(f"{subject}: attested by {owner}, which is not an authority", check="attribution")


def as_v2(p: ParsedV3) -> Parsed:
    """The lot chains as a version-2 view, for the shared ``lineage`` and ``membership`` checks."""
    lots = [(s.removeprefix("lot:"), ents) for s, ents in p.chains if s.startswith("lot:")]
    lot = p.subject if p.kind == "lot" else None
    sscc = p.subject if p.kind == "shipment" else None
    return Parsed(2, p.kind, lot, sscc, list(p.lots), lots, {}, p.size, p.root, p.anchor)


_SHOWN = ("names", "category", "brand", "net_content", "images")


def facts(p: ParsedV3) -> dict[str, Any]:
    """What a verified v3 bundle vouches for, and who vouches: organizations (operator-signed), products
    ("declared by the producer"), active attestations ("attested by" an authority), each lot's signers."""
    chains = {s: [e for _, e, _ in ents] for s, ents in p.chains}
    out: dict[str, Any] = {"organizations": {}, "products": {}, "attestations": [], "lots": {}}
    active: list[dict[str, Any]] = []
    for subject, ents in chains.items():
        kind, _, ident = subject.partition(":")
        if kind in ("org", "product", "attestation"):
            body = masterdata.current(ents)
        if kind == "org":
            out["organizations"][ident] = {k: body[k] for k in ("name", "kind", "province")} | {"signed_by": "operator"}
        elif kind == "product":
            declared = body["declared"] | {"declared_by": body["org"]}
            shown = {k: body.get(k) for k in _SHOWN}
            out["products"][ident] = shown | {"owner": body["org"], "declared": declared}
        elif kind == "attestation" and body["status"] == "active":
            owner = masterdata.key_state(chains[f"key:{ents[-1]['signer']}"])["org"]
            out["attestations"].append({"about": body["about"], "claim": body["claim"], "attested_by": owner})
            active.append({"about": body["about"], "claim": body["claim"], "by": owner})
        elif kind == "lot":
            owners = {masterdata.key_state(chains[f"key:{e['signer']}"])["org"] for e in ents}
            out["lots"][ident] = {"entries": len(ents), "signed_by": sorted(owners)}
    indexed = {s: [(i, e) for i, e, _ in ents] for s, ents in p.chains}
    for lot in out["lots"]:
        versions = indexed.get(f"product:{lot.split('.', 1)[0]}")
        first = indexed[f"lot:{lot}"][0][0] if indexed.get(f"lot:{lot}") else None
        then = masterdata.in_force(versions, first) if versions and first is not None else None
        if then is not None:  # the version in force at the lot's first entry (its commissioning)
            out["lots"][lot]["product"] = {k: then.get(k) for k in _SHOWN} | {"declared": then["declared"]}
    for lot, ilmd in lot_plots(p).items():
        mine = [a for a in active if codes.about_lot(a["about"], lot, ilmd)]
        found = codes.code_facts(codes.declared_codes(ilmd), mine)
        out["lots"][lot]["codes"] = {k: _code_report(k, v) for k, v in found.items()}
    return out


def _code_report(kind: str, fact: dict[str, Any]) -> dict[str, Any]:
    """A code fact with who vouches, in words: "attested by X", "declared by the producer", or the warning."""
    if fact["status"] == "attested":
        says = "attested by " + ", ".join(fact["attested_by"])
    elif fact["status"] == "declared":
        says = "declared by the producer"
    else:
        says = "WARNING: " + codes.mismatch_text(kind, fact)
    return fact | {"says": says}
