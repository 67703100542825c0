"""The EPCIS Event Hash ID of GS1 CBV 2.0 (``ni:///sha-256;<hex>?ver=CBV2.0``), pure.

The algorithm (CBV 2.0, "Event hash ID"; reference implementation and examples:
github.com/RalphTro/epcis-event-hash-generator, MIT): build a *pre-hash string* from the event
in a fixed property order, each value canonicalized, and hash its UTF-8 bytes with SHA-256.

- the event becomes a tree of (name, value, children); JSON lists become repeated elements, the
  ``…List`` properties the XML shape (``epcList`` → ``epc``, ``quantityList`` → ``quantityElement``,
  ``sensorElementList`` → ``sensorElement`` elements, whose list name CBV 2.0 leaves out);
- ``PROPERTY_ORDER`` is walked: each element found is written ``name=value`` followed by its
  children in their own order; elements of one name are sorted lexically; nothing is written for
  absent or empty ones; an element is consumed once written;
- what is left (``ilmd``, extensions of readPoint, bizLocation, sensor elements, user extensions)
  follows, each written with its path (``readPoint{ns}ext=…``), sorted at every level;
- values: times in UTC at millisecond precision with ``Z``; numbers without trailing zeros; bare
  vocabulary values as URIs (``shipping`` → ``https://ref.gs1.org/cbv/BizStep-shipping``,
  ``Temperature`` → ``https://ref.gs1.org/voc/Temperature``, GS1 Web Vocabulary code lists in master
  data); old CBV URNs as the new URIs; every GS1 key (EPC URN, Digital Link on any domain) as its
  canonical Digital Link (``ledger.exports.dl_normalise``); CURIEs of the document's ``@context``
  expanded, extension names written ``{namespace}localName``;
- not hashed: ``eventID``, ``recordTime``, ``type`` (written first as ``eventType``),
  ``errorDeclaration``, ``certificationInfo`` and comments (``rdfs:comment``).

The reference examples (``../shared/vectors/epcis-event-hash/``) pin down every step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.exports import gs1_voc
from ledger.exports.dl_normalise import normalise
from ledger.exports.sanitize import utc_iso

_QTY = [("quantityElement", [("epcClass", None), ("quantity", None), ("uom", None)])]
_META = "time startTime endTime deviceID deviceMetadata rawData dataProcessingMethod bizRules".split()
_REPORT = (
    "type exception deviceID deviceMetadata rawData dataProcessingMethod time microorganism chemicalSubstance "
    "value component stringValue booleanValue hexBinaryValue uriValue minValue maxValue meanValue sDev percRank "
    "percValue uom coordinateReferenceSystem"
).split()
PROPERTY_ORDER: list[tuple[str, Any]] = [
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("epcList", [("epc", None)]),
    ("parentID", None),
    ("inputEPCList", [("epc", None)]),
    ("childEPCs", [("epc", None)]),
    ("quantityList", _QTY),
    ("childQuantityList", _QTY),
    ("inputQuantityList", _QTY),
    ("outputEPCList", [("epc", None)]),
    ("outputQuantityList", _QTY),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", [("set", None), ("unset", None)]),
    ("readPoint", [("id", None)]),
    ("bizLocation", [("id", None)]),
    ("bizTransactionList", "typed"),
    ("sourceList", "typed"),
    ("destinationList", "typed"),
    ("sensorElement", [("sensorMetadata", [(k, None) for k in _META]), ("sensorReport", [(k, None) for k in _REPORT])]),
]
"""CBV 2.0's order of the event's properties ("typed": type and value pairs of the three lists)."""
_IGNORED = frozenset(
    {"eventID", "recordTime", "type", "errorDeclaration", "certificationInfo", "epcis:certificationInfo", "@context"}
)
_COMMENTS = frozenset({"rdfs:comment", "comment", "#text"})
_TYPED_ITEM = {"bizTransactionList": "bizTransaction", "sourceList": "source", "destinationList": "destination"}
_LIST_ITEM = {"epcList": "epc", "inputEPCList": "epc", "outputEPCList": "epc", "childEPCs": "epc"}
_DEFAULT_NS = {"cbvmda": "urn:epcglobal:cbv:mda", "cbv": gs1_voc.CBV}
_GS1_TERMS = (gs1_voc.CBV, gs1_voc.VOC)
_OLD_CBV = (
    ("urn:epcglobal:cbv:bizstep:", "BizStep-"),
    ("urn:epcglobal:cbv:disp:", "Disp-"),
    ("urn:epcglobal:cbv:btt:", "BTT-"),
    ("urn:epcglobal:cbv:sdt:", "SDT-"),
    ("urn:epcglobal:cbv:er:", "ER-"),
)

Node = tuple[str, str, list[Any]]  # (name, value, children)


def fix_time(value: str) -> str:
    """An ISO 8601 timestamp in UTC at millisecond precision (rounded half up), with ``Z``.

    A time without offset counts as UTC (the ledger never stores one); text that is not a time stays as is.
    """
    text = value.strip()
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return text
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    ms = (t.microsecond + 500) // 1000  # half up (the examples' .1415 → .142 agree with either tie rule)
    t = t.replace(microsecond=0)
    if ms == 1000:
        try:
            t, ms = t + timedelta(seconds=1), 0
        except OverflowError:  # 9999-12-31T23:59:59.9995 local: the last representable millisecond
            ms = 999
    return f"{utc_iso(t)}.{ms:03d}Z"


def epc_to_dl(uri: str) -> str:
    """A GS1 key URI (EPC URN, class, id pattern, any-domain Digital Link) as its canonical Digital Link."""
    return normalise(uri) or uri


def _number(text: str) -> str:
    try:
        f = float(text)
        return str(int(f)) if int(f) == f else str(f)
    except (ValueError, OverflowError):
        return text


def canonical_value(text: str) -> str:
    """A value as hashed: old CBV URNs renamed, numbers trimmed, GS1 keys as canonical Digital Links."""
    for old, new in _OLD_CBV:
        text = text.replace(old, gs1_voc.CBV + new)
    text = _number(text)
    return normalise(text) or text


class _Context:
    """The namespaces of a document's ``@context`` (its inline objects; ``gs1`` is always GS1's)."""

    def __init__(self, context: Any) -> None:
        self.ns: dict[str, str] = dict(_DEFAULT_NS)
        for item in context if isinstance(context, list) else [context]:
            if isinstance(item, Mapping):
                self.ns.update({k: v for k, v in item.items() if isinstance(v, str)})
        self.ns["gs1"] = gs1_voc.VOC

    def name(self, key: str) -> str:
        prefix, sep, local = key.partition(":")
        return "{" + self.ns[prefix] + "}" + local if sep and prefix in self.ns else key

    def value(self, text: str) -> str:
        """A CURIE naming a CBV or GS1 Web Vocabulary term as its URI; any other value as written."""
        prefix, sep, local = text.partition(":")
        uri = self.ns.get(prefix, "") + local if sep else ""
        return uri if uri.startswith(_GS1_TERMS) else text


# --- bare vocabulary values ------------------------------------------------------------------------


def _vocabulary(key: str, parent: str) -> tuple[str, frozenset[str]] | None:
    if key == "type":
        return gs1_voc.TYPE_OF.get(parent)
    return gs1_voc.VOCABULARIES.get(key)


def _expand(key: str, parent: str, value: str) -> str:
    vocab = _vocabulary(key, parent)
    if vocab and value in vocab[1]:
        return vocab[0] + value
    local = key.removeprefix("gs1:")
    if local in gs1_voc.CODE_LISTS and value and not any(c in value for c in ":/"):
        return f"{gs1_voc.VOC}{gs1_voc.CODE_LISTS[local]}-{value}"
    return value


def _expand_all(value: Any, key: str, parent: str) -> Any:
    """Bare vocabulary values (of enumerated properties, of GS1 code lists) as URIs."""
    if isinstance(value, str):
        return _expand(key, parent, value)
    if isinstance(value, list):
        return [_expand_all(v, key, parent) for v in value]
    if isinstance(value, Mapping):
        return {k: _expand_all(v, k, key) for k, v in value.items()}
    return value


# --- JSON to tree ----------------------------------------------------------------------------------


def _scalar(ctx: _Context, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return ctx.value(value) if isinstance(value, str) else str(value)


def _nodes(ctx: _Context, name: str, value: Any) -> list[Node]:
    if isinstance(value, list):
        return [n for item in value for n in _nodes(ctx, name, item)]
    if isinstance(value, Mapping):
        return [(name, "", _children(ctx, value))]
    return [(name, _scalar(ctx, value), [])]


def _children(ctx: _Context, obj: Mapping[str, Any]) -> list[Node]:
    return [n for k, v in obj.items() if k not in _COMMENTS for n in _nodes(ctx, ctx.name(k), v)]


def _typed(ctx: _Context, key: str, items: Any) -> Node:
    """bizTransactionList / sourceList / destinationList: ``type=…`` then the value, per item."""
    item_key = _TYPED_ITEM[key]
    out: list[Node] = []
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, Mapping):
            text = ("type=" + canonical_value(_scalar(ctx, item["type"])) if item.get("type") else "") + (
                f"{item_key}=" + canonical_value(_scalar(ctx, item.get(item_key, "")))
            )
            out.append((text, "", []))
    return (key, "", out)


def _event_tree(ctx: _Context, event: Mapping[str, Any]) -> list[Node]:
    out: list[Node] = []
    for key, value in event.items():
        if key in _IGNORED or key in _COMMENTS:
            continue
        if key in _TYPED_ITEM:
            out.append(_typed(ctx, key, value))
        elif key in _LIST_ITEM:
            out.append((key, "", _nodes(ctx, _LIST_ITEM[key], value)))
        elif key.endswith("QuantityList") or key == "quantityList":
            out.append((key, "", _nodes(ctx, "quantityElement", value)))
        elif key == "sensorElementList":
            out += _nodes(ctx, "sensorElement", value)
        else:
            out += _nodes(ctx, ctx.name(key), value)
    return out


# --- tree to pre-hash string -----------------------------------------------------------------------


def _text(name: str, text: str) -> str:
    if not text.strip():
        return ""
    is_time = "time" in name.lower() and "offset" not in name.lower()
    return "=" + (fix_time(text) if is_time else canonical_value(text.strip()))


def _ordered(children: list[Node], order: Any) -> str:
    """Write (and consume) the children named in ``order``, in that order."""
    out = ""
    for name, sub in order:
        values: list[str] = []
        for child in [c for c in children if c[0] == name]:
            if sub == "typed":
                values.append("".join(sorted(n for n, _, _ in child[2])))
                child[2].clear()
            else:
                inner = _ordered(child[2], sub) if sub else ""
                text = _text(name, child[1])
                if text or inner:
                    values.append(name + text + inner)
            if not child[2]:
                children.remove(child)
        if sub == "typed":
            values = [name + v for v in values if v]
        out += "".join(sorted(values))
    return out


def _generic(nodes: Iterable[Node]) -> str:
    return "".join(sorted(name + _text("", text) + _generic(children) for name, text, children in nodes))


def prehash(event: Mapping[str, Any], context: Any = None) -> str:
    """The CBV 2.0 pre-hash string of one EPCIS 2.0 JSON(-LD) event (``context``: its document's)."""
    ctx = _Context(context if context is not None else event.get("@context"))
    tree = _event_tree(ctx, _expand_all(dict(event), "", ""))
    head = "eventType=" + str(event.get("type", ""))
    return head + _ordered(tree, PROPERTY_ORDER) + _rest(tree)


def _rest(tree: list[Node]) -> str:
    """What the ordered walk left: ilmd, then extensions of ordered properties in order, then the rest sorted."""
    names = ["ilmd", *(name for name, _ in PROPERTY_ORDER)]
    known = [_generic([n for n in tree if n[0] == name]) for name in names]
    return "".join(known) + _generic(n for n in tree if n[0] not in names)


def event_hash_id(event: Mapping[str, Any], context: Any = None) -> str:
    """``ni:///sha-256;<hex>?ver=CBV2.0`` of an EPCIS 2.0 JSON-LD event."""
    digest = hashlib.sha256(prehash(event, context).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver=CBV2.0"


def document_events(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The events of an EPCISDocument or EPCISQueryDocument, in document order."""
    body = document.get("epcisBody", {})
    if "queryResults" in body:
        body = body["queryResults"].get("resultsBody", {})
    events = body.get("eventList")
    return list(events) if events is not None else ([body["event"]] if "event" in body else [])


def document_hash_ids(document: Mapping[str, Any]) -> list[str]:
    """The hash ids of every event of an EPCIS document, in document order."""
    ctx = document.get("@context")
    return [event_hash_id(e, e.get("@context", ctx)) for e in document_events(document)]
