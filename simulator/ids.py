"""Deterministic Zoho-style numeric-string ids (16 to 19 digits)."""

from __future__ import annotations

# entity -> (two-digit code, total digits); transactions get longer ids, as in real orgs.
_RECORD_IDS = {
    "locations": (1, 16),
    "items": (2, 16),
    "contacts": (3, 16),
    "salesorders": (4, 18),
    "invoices": (5, 18),
    "customerpayments": (6, 18),
    "creditnotes": (7, 18),
    "bills": (8, 19),
    "vendorpayments": (9, 19),
}
_LINE_CODE = {"salesorders": 24, "invoices": 25, "creditnotes": 27, "bills": 28}
IMAGE_CODE = 30
PERSON_CODE = 40
ACCOUNT_CODE = 50
MISC_CODE = 60
ADJUSTMENT_CODE = 70
ADJUSTMENT_LINE_CODE = 71


def org_prefix(seed: int) -> int:
    """Return the four leading digits every id of this seed's org shares."""
    return 4600 + seed % 300


def record_id(prefix: int, entity: str, seq: int) -> str:
    """Return the id of the seq-th record (0-based) of an entity."""
    code, width = _RECORD_IDS[entity]
    return f"{prefix}{code:02d}{seq + 1:0{width - 6}d}"


def record_seq(entity: str, record: str) -> int | None:
    """Return the seq encoded in an id of this entity, or None when it is not one."""
    code, width = _RECORD_IDS[entity]
    if len(record) != width or not record.isdigit() or int(record[4:6]) != code:
        return None
    return int(record[6:]) - 1


def line_id(prefix: int, entity: str, seq: int, line_no: int) -> str:
    """Return an 18-digit line_item_id, unique per record and line number."""
    return f"{prefix}{_LINE_CODE[entity]:02d}{(seq + 1) * 100 + line_no:012d}"


def aux_id(prefix: int, code: int, n: int, width: int = 16) -> str:
    """Return an id for a secondary object (image, contact person, account, tax)."""
    return f"{prefix}{code:02d}{n + 1:0{width - 6}d}"
