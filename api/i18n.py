"""Texts of the consumer page in Vietnamese (default) and English, and the language choice."""

from __future__ import annotations

LANGS = ("vi", "en")
# languages a product may also be named in (its signed ``names``): the page is then in English with that name
NAME_LANGS = ("zh", "ja")

TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Truy xuất nguồn gốc",
        "verified": "Đã xác minh",
        "verified_long": "Toàn bộ lịch sử lô hàng được ký số và khớp với bản ghi đã neo trên blockchain.",
        "pending": "Đang chờ xác nhận",
        "pending_long": "Dữ liệu hợp lệ; các sự kiện mới nhất chưa được neo lên blockchain.",
        "tampered": "Cảnh báo: dữ liệu đã bị thay đổi",
        "tampered_long": "Lịch sử lô hàng không khớp với bản ghi đã ký. Đừng tin vào thông tin dưới đây.",
        "unverifiable": "Không kiểm chứng được",
        "unverifiable_long": "Không hỏi được blockchain mà nhà vận hành công bố; chưa phát hiện sai lệch, "
        "nhưng cũng chưa xác minh được.",
        "ship_unverifiable_long": "Không hỏi được blockchain mà nhà vận hành công bố; chưa phát hiện sai lệch.",
        "not_found": "Không tìm thấy",
        "not_found_long": "Không có lô hàng nào với mã này trong sổ cái.",
        "invalid": "Mã không hợp lệ",
        "failed_at": "Lỗi ở sự kiện",
        "check": "kiểm tra",
        "producer": "Nhà sản xuất",
        "origin": "Vùng trồng",
        "lot": "Mã lô",
        "gtin": "Mã sản phẩm (GTIN)",
        "harvest": "Thu hoạch",
        "quantity": "Khối lượng",
        "growing_area": "Mã vùng trồng",
        "brand": "Thương hiệu",
        "net_content": "Khối lượng tịnh",
        "product_photos": "Ảnh sản phẩm",
        "packing_house": "Mã cơ sở đóng gói",
        "certifications": "Chứng nhận",
        "declared_by_producer": "do nhà sản xuất tự công bố (chưa được cơ quan nào chứng thực)",
        "attestations": "Được chứng thực",
        "attested_by": "chứng thực bởi",
        "claim_ocop_rating": "OCOP {stars} sao ({year})",
        "claim_certification": "{scheme} số {number}",
        "claim_growing_area_code": "Mã số vùng trồng {code}",
        "claim_packing_house_code": "Mã số cơ sở đóng gói {code}",
        "code_declared": "do nhà sản xuất công bố (chưa được cơ quan nào chứng thực)",
        "code_attests": "{by} chứng thực mã {code}",
        "code_mismatch": "Cảnh báo: nhà sản xuất công bố mã {declared}, nhưng {others}",
        "code_conflict": "Cảnh báo: các cơ quan chứng thực những mã khác nhau: {code} và {others}",
        "declared_by_operator": "do đơn vị vận hành ghi lại khi chuyển dữ liệu (chưa được chứng thực)",
        "valid_to": "hiệu lực đến",
        "timeline": "Hành trình của lô hàng",
        "signed_by": "Ký bởi",
        "where": "Tại",
        "anchor": "Neo trên blockchain",
        "chain": "Mạng",
        "block": "Khối",
        "tx": "Giao dịch",
        "not_anchored": "Chưa neo",
        "ocop": "OCOP",
        "stars": "sao",
        "proof": "Dữ liệu kiểm chứng",
        "proof_json": "Kết quả kiểm tra (JSON)",
        "bundle": "Gói bằng chứng",
        "lang_switch": "English",
        "footer": "Sổ cái OCOP — mỗi sự kiện được ký số, liên kết và neo trên blockchain.",
        "event_ok": "đã kiểm tra",
        "event_pending": "chờ neo",
        "event_failed": "không hợp lệ",
        "event_unchecked": "chưa kiểm tra",
        "home": "Quét mã QR trên bao bì để xem nguồn gốc sản phẩm.",
        "made_from": "Được làm từ",
        "made_into": "Đã chế biến thành",
        "used": "dùng",
        "shipment": "Kiện hàng",
        "sscc": "Mã kiện hàng (SSCC)",
        "ship_kind": "Loại",
        "ship_kind_default": "Đơn vị vận chuyển (pallet / container)",
        "destination": "Nơi đến",
        "owner": "Đơn vị đóng hàng",
        "ship_lots": "Các lô trong kiện hàng",
        "ship_no_lots": "Kiện hàng hiện không chứa lô nào.",
        "ship_verified_long": "Mọi lô trong kiện hàng đều được ký số và khớp với bản ghi đã neo trên blockchain.",
        "ship_pending_long": "Chưa phải mọi lô đều đã được neo lên blockchain; chưa phát hiện sai lệch.",
        "ship_tampered_long": "Ít nhất một lô trong kiện hàng có dữ liệu không khớp với bản ghi đã ký.",
        "ship_not_found_long": "Không có kiện hàng nào với mã SSCC này trong sổ cái.",
        "ship_json": "Dữ liệu kiện hàng (JSON)",
        "photo": "Ảnh",
        "photo_tampered": "Ảnh đã bị thay đổi sau khi ký",
        "photo_unavailable": "Kho ảnh tạm thời không truy cập được",
        "photo_missing": "Không còn ảnh",
    },
    "en": {
        "title": "Product origin",
        "verified": "Verified",
        "verified_long": "Every event of this lot is signed and matches the record anchored on the blockchain.",
        "pending": "Pending",
        "pending_long": "Valid so far; the newest events are not anchored on the blockchain yet.",
        "tampered": "Warning: records were altered",
        "tampered_long": "This lot's history does not match what was signed. Do not trust the details below.",
        "unverifiable": "Cannot be verified",
        "unverifiable_long": "The blockchain the operator publishes could not be asked; nothing was found altered, "
        "but nothing could be confirmed either.",
        "ship_unverifiable_long": "The blockchain the operator publishes could not be asked; "
        "nothing was found altered.",
        "not_found": "Not found",
        "not_found_long": "No lot with this code is in the ledger.",
        "invalid": "Invalid code",
        "failed_at": "Failed at event",
        "check": "check",
        "producer": "Producer",
        "origin": "Origin",
        "lot": "Lot",
        "gtin": "Product code (GTIN)",
        "harvest": "Harvest",
        "quantity": "Quantity",
        "growing_area": "Growing area code",
        "brand": "Brand",
        "net_content": "Net content",
        "product_photos": "Product photos",
        "packing_house": "Packing-house code",
        "certifications": "Certifications",
        "declared_by_producer": "declared by the producer (not attested by any authority)",
        "attestations": "Attested",
        "attested_by": "attested by",
        "claim_ocop_rating": "OCOP {stars} stars ({year})",
        "claim_certification": "{scheme} no. {number}",
        "claim_growing_area_code": "Growing-area code {code}",
        "claim_packing_house_code": "Packing-house code {code}",
        "code_declared": "declared by the producer (not attested by any authority)",
        "code_attests": "{by} attests {code}",
        "code_mismatch": "Warning: the producer declares {declared}, but {others}",
        "code_conflict": "Warning: authorities attest different codes: {code} and {others}",
        "declared_by_operator": "recorded by the operator when migrating (not attested)",
        "valid_to": "valid until",
        "timeline": "Journey of this lot",
        "signed_by": "Signed by",
        "where": "At",
        "anchor": "Anchored on blockchain",
        "chain": "Chain",
        "block": "Block",
        "tx": "Transaction",
        "not_anchored": "Not anchored yet",
        "ocop": "OCOP",
        "stars": "stars",
        "proof": "Proof data",
        "proof_json": "Verification report (JSON)",
        "bundle": "Proof bundle",
        "lang_switch": "Tiếng Việt",
        "footer": "OCOP Ledger — every event signed, chained and anchored on a blockchain.",
        "event_ok": "checked",
        "event_pending": "awaiting anchor",
        "event_failed": "invalid",
        "event_unchecked": "not checked",
        "home": "Scan the QR code on the package to see where the product comes from.",
        "made_from": "Made from",
        "made_into": "Made into",
        "used": "used",
        "shipment": "Shipment",
        "sscc": "Shipment code (SSCC)",
        "ship_kind": "Kind",
        "ship_kind_default": "Logistic unit (pallet / container)",
        "destination": "Destination",
        "owner": "Packed by",
        "ship_lots": "Lots in this shipment",
        "ship_no_lots": "This shipment holds no lots now.",
        "ship_verified_long": "Every lot in this shipment is signed and matches the record anchored on the blockchain.",
        "ship_pending_long": "Not every lot is anchored on the blockchain yet; nothing was found altered.",
        "ship_tampered_long": "At least one lot in this shipment does not match what was signed.",
        "ship_not_found_long": "No shipment with this SSCC is in the ledger.",
        "ship_json": "Shipment data (JSON)",
        "photo": "Photo",
        "photo_tampered": "Photo altered after signing",
        "photo_unavailable": "Photo storage is unreachable for now",
        "photo_missing": "Photo missing",
    },
}

STEPS: dict[str, tuple[str, str]] = {
    "commissioning": ("Tạo lô hàng", "Lot created"),
    "ocop:harvesting": ("Thu hoạch", "Harvested"),
    "ocop:cooling": ("Làm lạnh", "Cooled"),
    "ocop:sorting": ("Phân loại", "Sorted"),
    "ocop:drying": ("Sấy khô", "Dried"),
    "ocop:fermenting": ("Lên men", "Fermented"),
    "ocop:roasting": ("Rang", "Roasted"),
    "ocop:grinding": ("Xay", "Ground"),
    "ocop:freezing": ("Cấp đông", "Frozen"),
    "inspecting": ("Kiểm định chất lượng", "Quality inspection"),
    "sampling": ("Lấy mẫu kiểm nghiệm", "Sampled for testing"),
    "packing": ("Đóng gói", "Packed"),
    "repackaging": ("Đóng gói lại", "Repacked"),
    "storing": ("Lưu kho", "Stored"),
    "loading": ("Xếp hàng lên xe", "Loaded"),
    "shipping": ("Xuất hàng", "Shipped"),
    "departing": ("Khởi hành", "Departed"),
    "arriving": ("Đến nơi", "Arrived"),
    "receiving": ("Nhận hàng", "Received"),
    "unloading": ("Dỡ hàng", "Unloaded"),
    "transporting": ("Vận chuyển", "In transport"),
    "accepting": ("Nghiệm thu", "Accepted"),
    "creating_class_instance": ("Sản xuất", "Produced"),
    "retail_selling": ("Bán lẻ", "Sold at retail"),
}

CHECK_NAMES: dict[str, tuple[str, str]] = {
    "record": ("bản ghi", "record"),
    "signature": ("chữ ký số", "signature"),
    "key": ("khóa ký", "signing key"),
    "chain": ("liên kết chuỗi", "chain link"),
    "leaf": ("mã băm", "leaf hash"),
    "inclusion": ("sổ cái Merkle", "Merkle log inclusion"),
    "anchor": ("neo blockchain", "blockchain anchor"),
}

CHAINS = {
    1: "Ethereum",
    11155111: "Sepolia",
    137: "Polygon",
    80002: "Polygon Amoy",
    31337: "Anvil (local)",
    131277322940537: "EthereumTester",
}


def step_label(step: str, lang: str) -> str:
    pair = STEPS.get(step)
    if pair is None:
        return step.removeprefix("ocop:").replace("_", " ").capitalize()
    return pair[0] if lang == "vi" else pair[1]


def check_label(check: str, lang: str) -> str:
    pair = CHECK_NAMES.get(check, (check, check))
    return pair[0] if lang == "vi" else pair[1]


def pick_lang(explicit: str | None, accept_language: str | None) -> str:
    """``?lang=`` wins; then the first of vi/en in Accept-Language by weight; a browser that
    accepts neither but asks for another language gets English; no header gets Vietnamese."""
    if explicit in LANGS:
        return str(explicit)
    if explicit in NAME_LANGS:
        return "en"
    if not accept_language:
        return "vi"
    ranked = _ranked(accept_language)
    for _, _, tag in sorted(ranked):
        base = tag.split("-")[0]
        if base in LANGS:
            return base
    return "en" if ranked and all(t != "*" for _, _, t in ranked) else "vi"


def name_lang(explicit: str | None, accept_language: str | None) -> str | None:
    """``zh`` or ``ja`` when the reader asks for it (``?lang=``, or ranking it first in Accept-Language):
    the page then shows the product's signed Chinese or Japanese name when it has one."""
    if explicit in NAME_LANGS:
        return str(explicit)
    if explicit in LANGS or not accept_language:
        return None
    ranked = sorted(_ranked(accept_language))
    first = ranked[0][2].split("-")[0] if ranked else None
    return first if first in NAME_LANGS else None


def _ranked(accept_language: str) -> list[tuple[float, int, str]]:
    """(-q, position, tag) of each language the header accepts (q > 0)."""
    ranked = []
    for pos, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            ranked.append((-q, pos, tag.strip().lower()))
    return ranked
