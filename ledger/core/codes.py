"""Growing-area and packing-house codes: what the producer declares against what authorities attest (pure).

A lot's signed commissioning event declares its growing-area code (``ilmd["ocop:growingAreaCode"]``,
the plant-protection office's code of the plot, "mã số vùng trồng"); that code is also the id of the
lot's plot, so attestations ``about: {"type": "plot", "id": <code>}`` are about the lot's plot.
An authority attests a code with a ``growing_area_code`` or ``packing_house_code`` claim about the
lot or its plot. ``code_facts`` says, per code type, who vouches for it:

* ``attested``: at least one authority attests the declared code (or, with nothing declared, a code)
  and none attests another;
* ``declared``: the producer declares it and no authority attests any code of that type;
* ``mismatch``: an authority attests a code other than the declared one (or two authorities attest
  different codes). A mismatch is a fact about the data, not a broken signature: it is reported as a
  warning, never as ``tampered``.

The page, the certificate and the bundle verifier's ``--json`` facts all use this function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CODE_TYPES = ("growing_area_code", "packing_house_code")
ILMD_KEYS = {"growing_area_code": "ocop:growingAreaCode", "packing_house_code": "ocop:packingHouseCode"}


def declared_codes(ilmd: Mapping[str, Any] | None) -> dict[str, str | None]:
    """The codes a commissioning event's ``ilmd`` declares (None where it declares none)."""
    src = ilmd if isinstance(ilmd, Mapping) else {}
    out: dict[str, str | None] = {}
    for kind, key in ILMD_KEYS.items():
        value = src.get(key)
        out[kind] = value if isinstance(value, str) and value else None
    return out


def plot_id(ilmd: Mapping[str, Any] | None) -> str | None:
    """The id attestations about the lot's plot use: its declared growing-area code."""
    return declared_codes(ilmd)["growing_area_code"]


def about_lot(about: Mapping[str, Any], lot_id: str, ilmd: Mapping[str, Any] | None) -> bool:
    """Whether an attestation's ``about`` is the lot itself or the lot's plot."""
    kind, ident, plot = about.get("type"), about.get("id"), plot_id(ilmd)
    return (kind == "lot" and ident == lot_id) or (plot is not None and kind == "plot" and ident == plot)


def code_facts(declared: Mapping[str, str | None], attested: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per code type declared or attested: ``{"code", "declared", "status", "attested_by", "conflicts"}``.

    ``attested`` holds the active attestations about the lot or its plot, each ``{"claim": {...}, "by": <name>}``.
    ``attested_by`` lists who attests the shown code; ``conflicts`` ``[{"code", "by"}]`` who attests another.
    """
    out: dict[str, dict[str, Any]] = {}
    for kind in CODE_TYPES:
        claims = [(str(a["claim"]["code"]), str(a["by"])) for a in attested if a["claim"].get("type") == kind]
        mine = declared.get(kind)
        if mine is None and not claims:
            continue
        code = mine if mine is not None else claims[0][0]
        agree = sorted({by for c, by in claims if c == code})
        conflicts = [{"code": c, "by": by} for c, by in claims if c != code]
        if conflicts:
            status = "mismatch"
        elif agree:
            status = "attested"
        else:
            status = "declared"
        out[kind] = {"code": code, "declared": mine, "status": status, "attested_by": agree, "conflicts": conflicts}
    return out


def mismatch_text(kind: str, fact: Mapping[str, Any]) -> str:
    """An English sentence for a mismatch (the verifier's report; pages localize their own)."""
    label = kind.replace("_", "-").replace("-code", " code")
    who = "; ".join(f"{c['by']} attests {c['code']}" for c in fact["conflicts"])
    if fact["declared"] is None:
        return f"authorities attest different {label}s: {fact['code']} and {who}"
    return f"{label} mismatch: the producer declares {fact['declared']}, but {who}"
