"""The EPCIS Event Hash ID of GS1 CBV 2.0 (``ni:///sha-256;<hex>?ver=CBV2.0``), pure.

The algorithm (CBV 2.0, "Event hash ID"; reference implementation and examples:
github.com/RalphTro/epcis-event-hash-generator, MIT): build a *pre-hash string* from the event
in a fixed property order, each value canonicalized, and hash its UTF-8 bytes with SHA-256.

- order: ``eventType``, ``eventTime``, ``eventTimeZoneOffset``, ``epcList``, ``parentID``,
  ``inputEPCList``, ``childEPCs``, ``quantityList``, ``childQuantityList``, ``inputQuantityList``,
  ``outputEPCList``, ``outputQuantityList``, ``action``, ``transformationID``, ``bizStep``,
  ``disposition``, ``persistentDisposition``, ``readPoint``, ``bizLocation``,
  ``bizTransactionList``, ``sourceList``, ``destinationList``; then ``ilmd``, what is left of
  ``readPoint`` / ``bizLocation`` (their extensions), and the user extensions, sorted;
- each field is ``name=value``; list items are sorted lexically and written after the list's
  name; nothing is written for absent fields; no separators;
- times: UTC, millisecond precision, ``Z``; numbers without trailing zeros; bare CBV words as
  ``https://ref.gs1.org/cbv/{BizStep,Disp,BTT,SDT,ER}-…``; EPC URNs as canonical GS1 Digital
  Link URIs (``https://id.gs1.org/…``); JSON-LD CURIEs expanded with the ``@context``, user
  extension names written ``{namespace}localName``;
- ``eventID``, ``recordTime``, ``@context`` and ``type`` (written first) are not hashed.

Not covered (refused with ``InputError``): sensor data and error declarations; lists of
values inside user extensions are written as repeated elements of the same name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ledger.core.events import CBV_BIZ_STEPS, CBV_DISPOSITIONS
from ledger.core.gs1 import check_digit
from ledger.errors import InputError

CBV = "https://ref.gs1.org/cbv/"
DL = "https://id.gs1.org/"
_EPC_LISTS = ("epcList", "parentID", "inputEPCList", "childEPCs")
_QTY = ("quantityList", "childQuantityList", "inputQuantityList")
_TYPED = (("bizTransactionList", "bizTransaction", "BTT-"), ("sourceList", "source", "SDT-"))
_BTT = frozenset("bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres".split())
_SDT = frozenset("owning_party possessing_party location".split())
_IGNORED = frozenset({"eventID", "recordTime", "@context", "type"})
_UNSUPPORTED = ("sensorElementList", "errorDeclaration", "certificationInfo")


def fix_time(value: str) -> str:
    """An ISO 8601 timestamp in UTC at millisecond precision (rounded half up), with ``Z``."""
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return value.strip()
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    ms = Decimal(t.microsecond) / 1000
    rounded = int(ms.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    t = t.replace(microsecond=0) + timedelta(milliseconds=rounded)
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _num(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        f = float(value)
        return str(int(f)) if f == int(f) else str(f)
    try:
        f = float(str(value))
    except ValueError:
        return str(value).strip()
    return str(int(f)) if f == int(f) else str(f)


def _digits_check(body: str) -> str:
    return body + str(check_digit(body))


def epc_to_dl(uri: str) -> str:
    """EPC URNs (sgtin, sscc, sgln, pgln, gdti, giai, lgtin, sgtin pattern) as GS1 Digital Links."""
    kinds: dict[str, Callable[[list[str]], str]] = {
        "urn:epc:id:sgtin:": lambda p: f"{DL}01/{_digits_check(p[1][0] + p[0] + p[1][1:])}/21/{p[2]}",
        "urn:epc:class:lgtin:": lambda p: f"{DL}01/{_digits_check(p[1][0] + p[0] + p[1][1:])}/10/{p[2]}",
        "urn:epc:idpat:sgtin:": lambda p: f"{DL}01/{_digits_check(p[1][0] + p[0] + p[1][1:])}",
        "urn:epc:id:sscc:": lambda p: f"{DL}00/{_digits_check(p[1][0] + p[0] + p[1][1:])}",
        "urn:epc:id:sgln:": lambda p: f"{DL}414/{_digits_check(p[0] + p[1])}" + ("" if p[2] == "0" else f"/254/{p[2]}"),
        "urn:epc:id:pgln:": lambda p: f"{DL}417/{_digits_check(p[0] + p[1])}",
        "urn:epc:id:gdti:": lambda p: f"{DL}253/{_digits_check(p[0] + p[1])}{p[2]}",
        "urn:epc:id:giai:": lambda p: f"{DL}8004/{p[0]}{p[1]}",
    }
    for prefix, build in kinds.items():
        if uri.startswith(prefix):
            try:
                return build(uri[len(prefix) :].split("."))
            except (IndexError, ValueError):
                return uri
    return uri


class _Ctx:
    """JSON-LD prefixes of the document's ``@context`` (objects in it; remote contexts are GS1's)."""

    def __init__(self, context: Any) -> None:
        self.prefixes: dict[str, str] = {}
        for item in context if isinstance(context, list) else [context]:
            if isinstance(item, Mapping):
                self.prefixes.update({k: v for k, v in item.items() if isinstance(v, str)})

    def expand(self, value: str) -> str:
        prefix, sep, local = value.partition(":")
        if sep and prefix in self.prefixes and not local.startswith("//"):
            return self.prefixes[prefix] + local
        return value

    def name(self, key: str) -> str:
        prefix, sep, local = key.partition(":")
        if sep and prefix in self.prefixes:
            return "{" + self.prefixes[prefix] + "}" + local
        return key

    def value(self, v: Any, vocab: str = "", words: frozenset[str] = frozenset()) -> str:
        if not isinstance(v, str):
            return _num(v)
        text = v.strip()
        if vocab and text in words:
            return CBV + vocab + text
        for old, new in (
            ("urn:epcglobal:cbv:bizstep:", "BizStep-"),
            ("urn:epcglobal:cbv:disp:", "Disp-"),
            ("urn:epcglobal:cbv:btt:", "BTT-"),
            ("urn:epcglobal:cbv:sdt:", "SDT-"),
            ("urn:epcglobal:cbv:er:", "ER-"),
        ):
            if text.startswith(old):
                return CBV + new + text[len(old) :]
        if text.startswith("urn:epc:"):
            return epc_to_dl(text)
        if text.startswith(("http://", "https://", "urn:", "geo:")):
            return text
        try:
            return _num(float(text)) if text.lstrip("+-").replace(".", "", 1).isdigit() else self.expand(text)
        except ValueError:
            return self.expand(text)


def _generic(ctx: _Ctx, key: str, value: Any) -> list[str]:
    """A user extension element (and its children), as the strings to sort and join."""
    name = ctx.name(key)
    if isinstance(value, list):
        return [s for item in value for s in _generic(ctx, key, item)]
    if isinstance(value, Mapping):
        inner = sorted(s for k, v in value.items() for s in _generic(ctx, k, v))
        return [name + "".join(inner)]
    if key.lower().find("time") > 0 and "offset" not in key.lower() and isinstance(value, str):
        return [name + "=" + fix_time(value)]
    return [name + "=" + ctx.value(value)]


def _quantity(ctx: _Ctx, q: Mapping[str, Any]) -> str:
    out = "quantityElement"
    for k in ("epcClass", "quantity", "uom"):
        if k in q:
            out += f"{k}={ctx.value(q[k])}"
    return out


def _typed(ctx: _Ctx, item: Mapping[str, Any], key: str, vocab: str, words: frozenset[str]) -> str:
    out = f"type={ctx.value(item['type'], vocab, words)}" if "type" in item else ""
    return out + f"{key}={ctx.value(item.get(key, ''))}"


def prehash(event: Mapping[str, Any], context: Any = None) -> str:
    """The CBV 2.0 pre-hash string of one EPCIS 2.0 JSON-LD event."""
    for key in _UNSUPPORTED:
        if key in event:
            raise InputError(f"event hash: {key} is not supported by this implementation", field=key)
    ctx = _Ctx(context if context is not None else event.get("@context"))
    out = [f"eventType={event['type']}"]
    done = set(_IGNORED)

    def put(key: str, text: str) -> None:
        out.append(text)
        done.add(key)

    if "eventTime" in event:
        put("eventTime", f"eventTime={fix_time(event['eventTime'])}")
    if "eventTimeZoneOffset" in event:
        put("eventTimeZoneOffset", f"eventTimeZoneOffset={event['eventTimeZoneOffset']}")
    order = [*_EPC_LISTS, *_QTY, "outputEPCList", "outputQuantityList"]
    for key in order:
        if key not in event:
            continue
        v = event[key]
        if key == "parentID":
            put(key, f"parentID={ctx.value(v)}")
        elif key.endswith("QuantityList") or key == "quantityList":
            put(key, key + "".join(sorted(_quantity(ctx, q) for q in v)))
        else:
            put(key, key + "".join(sorted(f"epc={ctx.value(e)}" for e in v)))
    for key, vocab, words in (
        ("action", "", frozenset()),
        ("transformationID", "", frozenset()),
        ("bizStep", "BizStep-", CBV_BIZ_STEPS),
        ("disposition", "Disp-", CBV_DISPOSITIONS),
    ):
        if key in event:
            put(key, f"{key}={ctx.value(event[key], vocab, words)}")
    if "persistentDisposition" in event:
        pd = event["persistentDisposition"]
        parts = [f"{k}={ctx.value(x, 'Disp-', CBV_DISPOSITIONS)}" for k in ("set", "unset") for x in pd.get(k, [])]
        put("persistentDisposition", "persistentDisposition" + "".join(parts))
    for key in ("readPoint", "bizLocation"):
        if key in event and "id" in event[key]:
            out.append(f"{key}id={ctx.value(event[key]['id'])}")
    for key, item_key, vocab in (*_TYPED, ("destinationList", "destination", "SDT-")):
        if key in event:
            words = _BTT if vocab == "BTT-" else _SDT
            put(key, key + "".join(sorted(_typed(ctx, i, item_key, vocab, words) for i in event[key])))
    if "ilmd" in event:
        put("ilmd", "ilmd" + "".join(sorted(s for k, v in event["ilmd"].items() for s in _generic(ctx, k, v))))
    for key in ("readPoint", "bizLocation"):
        rest = {k: v for k, v in event.get(key, {}).items() if k != "id"}
        if rest:
            out.append(key + "".join(sorted(s for k, v in rest.items() for s in _generic(ctx, k, v))))
        done.add(key)
    out += sorted(s for k, v in event.items() if k not in done for s in _generic(ctx, k, v))
    return "".join(out)


def event_hash_id(event: Mapping[str, Any], context: Any = None) -> str:
    """``ni:///sha-256;<hex>?ver=CBV2.0`` of an EPCIS 2.0 JSON-LD event."""
    digest = hashlib.sha256(prehash(event, context).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver=CBV2.0"


def document_hash_ids(document: Mapping[str, Any]) -> list[str]:
    """The hash ids of every event of an EPCISDocument, in document order."""
    ctx = document.get("@context")
    events = document.get("epcisBody", {}).get("eventList", [])
    return [event_hash_id(e, e.get("@context", ctx)) for e in events]
