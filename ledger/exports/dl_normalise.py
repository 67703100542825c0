"""GS1 identifiers in their one canonical form for the CBV 2.0 event hash, pure.

Any URI carrying a GS1 key — an EPC URN (``urn:epc:id:…``), EPC class URN (``urn:epc:class:lgtin:…``),
EPC id pattern (``urn:epc:idpat:…``) or a GS1 Digital Link on any domain (``https://id.gs1.de/…``,
``https://example.com/gtin/…?x=1``) — becomes a constrained canonical Digital Link on
``https://id.gs1.org/``: numeric AIs instead of short names, EPC escapes kept as written, GTINs padded
to 14 digits, no query string or fragment, no consumer product variant, only the finest level of
identification (a serial drops the lot). Anything else gives ``None`` and is hashed as written.

Behaviour follows the CBV 2.0 event hash reference implementation's normaliser
(github.com/RalphTro/epcis-event-hash-generator, MIT), which its published examples pin down.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ledger.core.gs1 import check_digit

DL = "https://id.gs1.org/"
_CHAR = r"(?:%[0-9A-Fa-f]{2}|[!')(*+,.0-9:;=A-Za-z_-])"  # GS1 AI encodable character set 82, EPC-escaped
_DL_CHARS = r"[^/]"  # a path value: EPC escapes and characters are kept as written
_SHORT = {
    "gtin": "01", "itip": "8006", "cpid": "8010", "gln": "414", "party": "417", "gsrnp": "8017", "gsrn": "8018",
    "gcn": "255", "sscc": "00", "gdti": "253", "ginc": "401", "gsin": "402", "grai": "8003", "giai": "8004",
    "cpv": "22", "lot": "10", "ser": "21",
}  # fmt: skip
_PRIMARY = ("00", "01", "253", "255", "401", "402", "414", "417", "8003", "8004", "8006", "8010", "8017", "8018")
_ANY_KEY = "|".join([*_PRIMARY, *(k for k, v in _SHORT.items() if v in _PRIMARY)])
_IS_DL = re.compile(rf"^https?://[^/?#]*(?:/[^?#]*)?/({_ANY_KEY})/\d{{4}}[^/]+")
_CANONICAL = re.compile(rf"^https://id\.gs1\.org/({'|'.join(_PRIMARY)})/\d{{4}}")
_LOT_AND_SERIAL = re.compile(rf"^((?:01/\d{{14}})|(?:8006/\d{{18}}))/10/{_DL_CHARS}{{0,20}}(/21/{_DL_CHARS}{{0,20}})$")
_VALID = [
    re.compile(p + "$")
    for p in (
        r"00/\d{18}",
        rf"01/\d{{14}}/21/{_DL_CHARS}{{0,20}}",
        rf"01/\d{{14}}/10/{_DL_CHARS}{{0,20}}",
        r"01/\d{14}",
        rf"01/\d{{14}}/235/{_DL_CHARS}{{0,28}}",
        rf"253/\d{{13}}{_DL_CHARS}{{0,17}}",
        r"255/\d{13}\d{0,12}",
        rf"401/{_DL_CHARS}{{0,30}}",
        r"402/\d{17}",
        r"414/\d{13}",
        rf"414/\d{{13}}/254/{_DL_CHARS}{{0,20}}",
        r"417/\d{13}",
        rf"8003/\d{{14}}{_DL_CHARS}{{0,16}}",
        rf"8004/{_DL_CHARS}{{0,30}}",
        rf"8006/\d{{18}}/21/{_DL_CHARS}{{0,20}}",
        rf"8006/\d{{18}}/10/{_DL_CHARS}{{0,20}}",
        r"8006/\d{18}",
        r"8010/[#\-/0-9A-Z]{0,30}/8011/\d{0,12}",
        r"8010/[#\-/0-9A-Z]{0,30}",
        r"8017/\d{18}",
        r"8018/\d{18}",
    )
]


def _ck(body: str) -> str:
    return body + str(check_digit(body))


def _gtin(cp: str, ref: str) -> str:
    return _ck(ref[0] + cp + ref[1:])


def _cp(n: int, rest: str = "") -> str:
    """A company prefix (6–12 digits) and a reference making ``n`` digits together, as one regex."""
    return "(?:" + "|".join(rf"\d{{{k}}}\.\d{{{n - k}}}" for k in range(6, 13)) + ")" + rest


_URNS: list[tuple[str, Callable[[list[str]], str]]] = [
    (rf"id:sgtin:{_cp(13)}\.{_CHAR}{{1,20}}", lambda p: f"01/{_gtin(p[0], p[1])}/21/{('.'.join(p[2:]))}"),
    (rf"id:sscc:{_cp(17)}", lambda p: f"00/{_gtin(p[0], p[1])}"),
    (rf"id:sgln:{_cp(12)}\.{_CHAR}{{1,20}}", lambda p: _gln("414", p)),
    (rf"id:grai:{_cp(12)}\.{_CHAR}{{1,16}}", lambda p: f"8003/{_ck('0' + p[0] + p[1])}{('.'.join(p[2:]))}"),
    (rf"id:giai:\d{{6,12}}\.{_CHAR}{{1,24}}", lambda p: f"8004/{p[0]}{('.'.join(p[1:]))}"),
    (rf"id:gsrn:{_cp(17)}", lambda p: f"8018/{_ck(p[0] + p[1])}"),
    (rf"id:gsrnp:{_cp(17)}", lambda p: f"8017/{_ck(p[0] + p[1])}"),
    (rf"id:gdti:{_cp(12)}\.{_CHAR}{{0,17}}", lambda p: f"253/{_ck(p[0] + p[1])}{('.'.join(p[2:]))}"),
    (r"id:cpi:\d{6,12}\.(?:%2[3dfDF]|%3[0-9]|%4[1-9A-Fa-f]|%5[0-9Aa]|[0-9A-Z-]){1,24}\.\d{1,12}", lambda p: _cpi(p)),
    (rf"id:sgcn:{_cp(12)}\.\d{{1,12}}", lambda p: f"255/{_ck(p[0] + p[1])}{p[2]}"),
    (rf"id:ginc:\d{{6,12}}\.{_CHAR}{{1,24}}", lambda p: f"401/{p[0]}{('.'.join(p[1:]))}"),
    (rf"id:gsin:{_cp(16)}", lambda p: f"402/{_ck(p[0] + p[1])}"),
    (rf"id:itip:{_cp(13)}\.\d{{2}}\.\d{{2}}\.{_CHAR}{{1,20}}", lambda p: _itip(p)),
    (rf"id:upui:{_cp(13)}\.{_CHAR}{{1,28}}", lambda p: f"01/{_gtin(p[0], p[1])}/235/{('.'.join(p[2:]))}"),
    (rf"id:pgln:{_cp(12)}", lambda p: f"417/{_ck(p[0] + p[1])}"),
    (rf"class:lgtin:{_cp(13)}\.{_CHAR}{{1,20}}", lambda p: f"01/{_gtin(p[0], p[1])}/10/{('.'.join(p[2:]))}"),
    (rf"idpat:sgtin:{_cp(13)}\.\*", lambda p: f"01/{_gtin(p[0], p[1])}"),
    (rf"idpat:grai:{_cp(12)}\.\*", lambda p: f"8003/{_ck('0' + p[0] + p[1])}"),
    (rf"idpat:gdti:{_cp(12)}\.\*", lambda p: f"253/{_ck(p[0] + p[1])}"),
    (rf"idpat:sgcn:{_cp(12)}\.\*", lambda p: f"255/{_ck(p[0] + p[1])}"),
    (r"idpat:cpi:\d{6,12}\.[0-9A-Z%-]{1,24}\.\*", lambda p: f"8010/{(p[0] + p[1])}"),
    (rf"idpat:itip:{_cp(13)}\.\d{{2}}\.\d{{2}}\.\*", lambda p: f"8006/{_gtin(p[0], p[1])}{p[2]}{p[3]}"),
    (rf"idpat:upui:{_cp(13)}\.\*", lambda p: f"01/{_gtin(p[0], p[1])}"),
]
_URN_RES = [(re.compile(rf"^urn:epc:{pattern}$"), build) for pattern, build in _URNS]


def _gln(ai: str, p: list[str]) -> str:
    ext = ".".join(p[2:])
    return f"{ai}/{_ck(p[0] + p[1])}" + ("" if ext == "0" else f"/254/{(ext)}")


def _cpi(p: list[str]) -> str:
    return f"8010/{(p[0] + p[1])}/8011/{p[2]}"


def _itip(p: list[str]) -> str:
    return f"8006/{_gtin(p[0], p[1])}{p[2]}{p[3]}/21/{('.'.join(p[4:]))}"


def _from_urn(uri: str) -> str | None:
    for regex, build in _URN_RES:
        if regex.match(uri):
            body = uri.split(":", 4)[4]
            return DL + build(body.split("."))
    return None


def _from_dl(uri: str) -> str | None:
    if not _IS_DL.match(uri):
        return None
    uri = uri.split("?")[0]
    for short, ai in _SHORT.items():
        uri = uri.replace(f"/{short}/", f"/{ai}/")
    if _CANONICAL.match(uri):
        tail = uri[len(DL) :]
    else:  # another domain or path prefix: from the first primary key, in _PRIMARY's order
        starts = [i for i in (uri.find(f"/{ai}/") for ai in _PRIMARY) if i >= 0]
        if not starts:
            return None
        tail = uri[starts[0] + 1 :]
    tail = _pad_gtin(tail)
    tail = _drop_cpv(tail)
    tail = _LOT_AND_SERIAL.sub(r"\1\2", tail)  # a serial identifies more finely than the lot
    return DL + tail if any(v.match(tail) for v in _VALID) else None


def _pad_gtin(tail: str) -> str:
    m = re.match(r"01/(\d+)", tail)
    if m and len(m.group(1)) < 14:
        digits = m.group(1)
        width = next((w for w in (13, 12, 8) if len(digits) >= w), None)
        if width is not None:
            return "01/" + "0" * (14 - width) + tail[3:]
    return tail


def _drop_cpv(tail: str) -> str:
    m = re.match(r"^((?:01/\d{14})|(?:8006/\d{18}))/22/([^?#]{0,20})$", tail)
    if not m:
        return tail
    rest = m.group(2)
    return m.group(1) + (rest[rest.find("/") :] if "/" in rest else "")


def normalise(uri: str) -> str | None:
    """The canonical GS1 Digital Link of a URI holding a GS1 key, or ``None`` if it holds none."""
    if "." not in uri:
        return None
    if uri.startswith("urn:epc:"):
        return _from_urn(uri)
    return _from_dl(uri)
