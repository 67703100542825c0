"""EPCIS 2.0 query parameters (REST bindings, GS1 ``openapi.yaml``): parsed, checked, matched.

Pure: a query is parsed from the URI query string into ``EventQuery`` and matched against an
exported EPCIS 2.0 event (the JSON-LD form ``ledger.exports.epcis`` produces). The storage side
(``ledger/exports/epcis_index.py``) narrows the candidates with SQL first; ``matches`` is the exact test.

Values of a parameter may be repeated (``?EQ_bizStep=a&EQ_bizStep=b``) or pipe-delimited
(``?EQ_bizStep=a|b``, the binding's ``style: pipeDelimited``). Vocabulary values match as bare CBV
words or as their URIs (``shipping``, ``https://ref.gs1.org/cbv/BizStep-shipping``,
``urn:epcglobal:cbv:bizstep:shipping``); identifiers match after GS1 Digital Link canonicalization
(any GS1 domain, URN or Digital Link). A parameter of the standard this repository does not
support, or one the standard does not define, is refused with ``QueryError`` (400,
``epcisException:QueryParameterException``), as is a malformed value.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.core.paging import PER_PAGE_DEFAULT, PER_PAGE_MAX
from ledger.errors import QueryError
from ledger.exports.dl_normalise import normalise

EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_TIMES = ("GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime")
_WORDS = ("EQ_action", "EQ_bizStep", "EQ_disposition")
_IDS = ("EQ_readPoint", "EQ_bizLocation", "EQ_eventID")
_MATCH = {
    "MATCH_epc": ("epcList", "childEPCs"),
    "MATCH_parentID": ("parentID",),
    "MATCH_inputEPC": ("inputEPCList",),
    "MATCH_outputEPC": ("outputEPCList",),
    "MATCH_anyEPC": ("epcList", "childEPCs", "inputEPCList", "outputEPCList", "parentID"),
    "MATCH_epcClass": ("quantityList", "childQuantityList"),
    "MATCH_inputEPCClass": ("inputQuantityList",),
    "MATCH_outputEPCClass": ("outputQuantityList",),
    "MATCH_anyEPCClass": ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"),
}
SUPPORTED = frozenset(("eventType", "perPage", "nextPageToken", "orderBy", "orderDirection", *_TIMES, *_WORDS, *_IDS))
SUPPORTED |= frozenset(_MATCH)
# Defined by the standard but not answered here: refused by name rather than silently ignored.
_STANDARD_UNSUPPORTED = re.compile(
    r"(EQ|GT|GE|LT|LE|EXISTS|HASATTR|EQATTR|WD|EQ_INNER|GE_INNER|LT_INNER)_.+|eventCountLimit|maxEventCount"
)
_VOCAB_PREFIXES = (
    "https://ref.gs1.org/cbv/BizStep-",
    "https://ref.gs1.org/cbv/Disp-",
    "urn:epcglobal:cbv:bizstep:",
    "urn:epcglobal:cbv:disp:",
    "https://ref.gs1.org/voc/BizStep-",
    "https://ref.gs1.org/voc/Disp-",
)


@dataclass
class EventQuery:
    """A parsed EPCIS simple event query. Times are UTC strings in ``TIME_FORMAT`` (compare as text)."""

    event_types: list[str] = field(default_factory=list)
    times: dict[str, str] = field(default_factory=dict)  # GE_eventTime → "2026-…Z"
    words: dict[str, set[str]] = field(default_factory=dict)  # EQ_bizStep → {"shipping"}
    ids: dict[str, set[str]] = field(default_factory=dict)  # EQ_readPoint → {canonical URIs}
    match: dict[str, set[str]] = field(default_factory=dict)  # MATCH_anyEPC → {canonical URIs}
    per_page: int = PER_PAGE_DEFAULT
    after: int | None = None  # log index the page continues from (exclusive), from nextPageToken
    descending: bool = False

    def fingerprint(self) -> str:
        """What a page token is bound to: every filter and the order, not the page size or position."""
        parts = [self.event_types, sorted(self.times.items()), self.descending]
        parts += [sorted((k, sorted(v)) for k, v in d.items()) for d in (self.words, self.ids, self.match)]
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]

    def page_token(self, last_idx: int) -> str:
        raw = f"v1.{last_idx}.{self.fingerprint()}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def utc_text(value: str, where: str = "time") -> str:
    """An RFC 3339 time as UTC text in ``TIME_FORMAT``; ``QueryError`` if it has no zone or is malformed."""
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise QueryError(f"{where}: expected an RFC 3339 time with a zone, got {value!r}", field=where) from exc
    if t.tzinfo is None:
        raise QueryError(f"{where}: expected a time zone (Z or ±hh:mm), got {value!r}", field=where)
    try:
        return t.astimezone(UTC).strftime(TIME_FORMAT)
    except OverflowError:  # 0001-01-01T00:00+01:00 and 9999-12-31T23:59-01:00 leave the calendar
        return "0000-00-00T00:00:00.000000Z" if t.year == 1 else "9999-99-99T99:99:99.999999Z"


def word(value: str) -> str:
    """A CBV business step or disposition as its bare word, from any of its spellings."""
    for prefix in _VOCAB_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def ident(value: str) -> str:
    """An identifier in canonical GS1 Digital Link form when it is a GS1 key, else as given."""
    try:
        return normalise(value) or value
    except (ValueError, IndexError):
        return value


def _values(params: Mapping[str, list[str]], name: str) -> list[str]:
    out = [v for raw in params[name] for v in raw.split("|")]
    if not out or any(not v for v in out):
        raise QueryError(f"{name}: expected one or more values separated by |, got an empty value", field=name)
    return out


def parse_query(params: Mapping[str, list[str]]) -> EventQuery:
    """The query a URI query string asks for (``{name: [values]}``), or ``QueryError``."""
    _check_names(params)
    q = EventQuery()
    if "eventType" in params:
        q.event_types = _values(params, "eventType")
        bad = [t for t in q.event_types if t not in EVENT_TYPES]
        if bad:
            raise QueryError(f"eventType: expected some of {', '.join(EVENT_TYPES)}, got {bad}", field="eventType")
    for name in _TIMES:
        if name in params:
            q.times[name] = utc_text(_single(params, name), name)
    for name in _WORDS:
        if name in params:
            q.words[name] = {word(v) for v in _values(params, name)}
    for name in _IDS:
        if name in params:
            q.ids[name] = {ident(v) for v in _values(params, name)}
    for name in _MATCH:
        if name in params:
            q.match[name] = {ident(v) for v in _values(params, name)}
    q.per_page = _per_page(params)
    q.descending = _descending(params)
    if "nextPageToken" in params:
        q.after = _token(_single(params, "nextPageToken"), q)
    return q


def _check_names(params: Mapping[str, list[str]]) -> None:
    unknown = sorted(set(params) - SUPPORTED)
    if not unknown:
        return
    standard = [n for n in unknown if _STANDARD_UNSUPPORTED.fullmatch(n)]
    what = f"not supported by this repository: {standard}" if standard else f"unknown: {unknown}"
    raise QueryError(
        f"query parameter {what}; expected some of {sorted(SUPPORTED)}", field=unknown[0], details=[{"field": n,
        "message": "unsupported query parameter"} for n in unknown],
    )  # fmt: skip


def _single(params: Mapping[str, list[str]], name: str) -> str:
    if len(params[name]) != 1:
        raise QueryError(f"{name}: expected one value, got {len(params[name])}", field=name)
    return params[name][0]


def _per_page(params: Mapping[str, list[str]]) -> int:
    if "perPage" not in params:
        return PER_PAGE_DEFAULT
    raw = _single(params, "perPage")
    if not raw.isdigit() or not 1 <= int(raw) <= PER_PAGE_MAX:
        raise QueryError(f"perPage: expected a whole number from 1 to {PER_PAGE_MAX}, got {raw!r}", field="perPage")
    return int(raw)


def _descending(params: Mapping[str, list[str]]) -> bool:
    if "orderBy" in params and _single(params, "orderBy") != "recordTime":
        raise QueryError(f"orderBy: expected recordTime (the log order), got {params['orderBy'][0]!r}", field="orderBy")
    direction = _single(params, "orderDirection") if "orderDirection" in params else "ASC"
    if direction not in ("ASC", "DESC"):
        raise QueryError(f"orderDirection: expected ASC or DESC, got {direction!r}", field="orderDirection")
    return direction == "DESC"


def _token(raw: str, q: EventQuery) -> int:
    try:
        version, idx, fp = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().split(".")
        position = int(idx)
    except (ValueError, UnicodeDecodeError) as exc:
        raise QueryError(f"nextPageToken: not a token this server issued: {raw[:40]!r}", field="nextPageToken") from exc
    if version != "v1" or fp != q.fingerprint():
        raise QueryError(
            "nextPageToken: issued for another query; repeat the query's parameters with the token",
            field="nextPageToken",
        )
    return position


def _uris(event: Mapping[str, Any], keys: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for key in keys:
        value = event.get(key)
        if isinstance(value, str):
            out.add(ident(value))
        for item in value if isinstance(value, list) else []:
            if isinstance(item, str):
                out.add(ident(item))
            elif isinstance(item, dict) and isinstance(item.get("epcClass"), str):
                out.add(ident(item["epcClass"]))
    return out


def matches(q: EventQuery, event: Mapping[str, Any], record_time: str, event_time: str) -> bool:
    """Whether an exported EPCIS event answers the query (times as ``utc_text`` gives them)."""
    if q.event_types and event.get("type") not in q.event_types:
        return False
    for name, bound in q.times.items():
        value = event_time if name.endswith("eventTime") else record_time
        if (value < bound) if name.startswith("GE_") else (value >= bound):
            return False
    fields = {"EQ_action": "action", "EQ_bizStep": "bizStep", "EQ_disposition": "disposition"}
    for name, wanted in q.words.items():
        if word(str(event.get(fields[name], ""))) not in wanted:
            return False
    for name, wanted in q.ids.items():
        if name == "EQ_eventID":
            got = str(event.get("eventID", ""))
        else:
            got = ident(str((event.get("readPoint" if name == "EQ_readPoint" else "bizLocation") or {}).get("id", "")))
        if got not in wanted:
            return False
    return all(_uris(event, _MATCH[name]) & wanted for name, wanted in q.match.items())
