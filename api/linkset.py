"""GS1-Conformant Resolver links: link types, RFC 9264 linksets, RFC 8288 Link headers (pure).

A resolvable thing (a lot, a product, a party) has a list of ``Link``s, each with a GS1 link type
(``gs1:pip``, ``gs1:traceability``, …), a target, a media type and the languages it is in. One of
them is the default (``gs1:defaultLink``): the product information page in the caller's language.

Language: ``?lang=`` wins, then Accept-Language by weight (vi or en); a request naming neither
Vietnamese nor English gets English; a request without Accept-Language gets Vietnamese (the
language of the producers and of the label). A link type offered in one language only is served
in that language whatever was asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

GS1_VOC = "https://gs1.org/voc/"
LINKSET = "application/linkset+json"
LINK_TYPES = {  # the GS1 Web Vocabulary link types this resolver serves, with their titles
    "gs1:pip": ("Trang thông tin sản phẩm", "Product information page"),
    "gs1:traceability": ("Dữ liệu truy xuất (EPCIS)", "Traceability data (EPCIS)"),
    "gs1:epcis": ("Kho sự kiện EPCIS 2.0", "EPCIS 2.0 event repository"),
    "gs1:verificationService": ("Kiểm tra toàn vẹn (blockchain)", "Integrity verification (blockchain)"),
    "gs1:certificationInfo": ("Giấy chứng nhận nguồn gốc", "Certificate of provenance"),
}


@dataclass(frozen=True)
class Link:
    link_type: str  # "gs1:pip"
    href: str
    media: str
    langs: tuple[str, ...]  # hreflang values, e.g. ("vi",) or ("vi", "en")

    def title(self, lang: str) -> str:
        vi, en = LINK_TYPES[self.link_type]
        return vi if lang == "vi" else en


def expand(link_type: str) -> str:
    """``gs1:pip`` → ``https://gs1.org/voc/pip``."""
    return GS1_VOC + link_type.removeprefix("gs1:") if link_type.startswith("gs1:") else link_type


def compact(link_type: str) -> str:
    """``https://gs1.org/voc/pip`` or ``http://gs1.org/voc/pip`` → ``gs1:pip``; others unchanged."""
    for ns in (GS1_VOC, "http://gs1.org/voc/"):
        if link_type.startswith(ns):
            return "gs1:" + link_type[len(ns) :]
    return link_type


def default(links: list[Link], lang: str) -> Link:
    """The default link: the first page (``gs1:pip``) in ``lang``, else the first link."""
    return pick(links, "gs1:pip", lang) or links[0]


def pick(links: list[Link], link_type: str, lang: str) -> Link | None:
    """The link of this type in ``lang``, or of this type in any language, or None."""
    same = [x for x in links if x.link_type == compact(link_type)]
    return next((x for x in same if lang in x.langs), same[0] if same else None)


def linkset(anchor: str, links: list[Link], lang: str) -> dict[str, Any]:
    """The RFC 9264 JSON linkset: one context object, anchor = the Digital Link URI."""
    ctx: dict[str, Any] = {"anchor": anchor}
    for x in links:
        ctx.setdefault(expand(x.link_type), []).append(_target(x, lang))
    ctx[GS1_VOC + "defaultLink"] = [_target(default(links, lang), lang)]
    return {"linkset": [ctx]}


def _target(x: Link, lang: str) -> dict[str, Any]:
    return {"href": x.href, "title": x.title(lang), "type": x.media, "hreflang": list(x.langs)}


def header(links: list[Link], lang: str, linkset_href: str) -> str:
    """An RFC 8288 ``Link`` header value: every link, the default, and the linkset itself."""
    parts = [_header_part(x, expand(x.link_type), lang) for x in links]
    parts.append(_header_part(default(links, lang), GS1_VOC + "defaultLink", lang))
    parts.append(f'<{linkset_href}>; rel="linkset"; type="{LINKSET}"')
    return ", ".join(parts)


def _header_part(x: Link, rel: str, lang: str) -> str:
    langs = "".join(f'; hreflang="{h}"' for h in x.langs)
    title = quote(x.title(lang), safe="")  # RFC 8187: header values are Latin-1, titles are Vietnamese
    return f'<{x.href}>; rel="{rel}"; type="{x.media}"{langs}; title*=UTF-8\'\'{title}'
