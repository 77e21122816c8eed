"""Shared record-building pieces and the master data: locations, items, contacts."""

from __future__ import annotations

import random
from typing import Any

from simulator import names
from simulator.clock import format_date, format_ts
from simulator.ids import IMAGE_CODE, MISC_CODE, aux_id, line_id
from simulator.store import Line, Record, Store

DAY = 86_400


def money(value: float) -> float:
    """Round to cents, as Zoho stores amounts."""
    return round(value + 0.0, 2)


class BaseFactory:
    """Builds master records and the pieces documents share, from a seeded RNG."""

    def __init__(self, store: Store, rng: random.Random) -> None:
        self.store = store
        self.rng = rng
        self.offset = store.org.utc_offset_minutes
        self.currency_id = aux_id(store.prefix, MISC_CODE, 0)

    # -- shared pieces -------------------------------------------------------------------

    def _times(self, data: dict[str, Any], created: int, lm: int) -> None:
        data["created_time"] = format_ts(created, self.offset)
        data["last_modified_time"] = format_ts(lm, self.offset)

    def _date(self, epoch: int) -> str:
        return format_date(epoch, self.offset)

    def _place(self, index: int) -> dict[str, Any]:
        """Return the header location fields (none in a legacy warehouses org)."""
        if self.store.shape != "locations":
            return {}
        site = self.store.sites[index % len(self.store.sites)]
        return {"location_id": site.id, "location_name": site.data["location_name"]}

    def _text(self, text: str) -> str:
        return names.maybe_hostile(self.rng, self.store.hostile_fraction, text)

    def _reference(self) -> str:
        return "" if self.rng.random() < 0.4 else f"REF-{self.rng.randrange(10**6):06d}"

    def pick_contact(self, vendor: bool) -> Record:
        """Return a live customer (or vendor), falling back to any contact."""
        table = self.store.table("contacts")
        rec = None
        for _ in range(40):  # bounded: a fifth of contacts are vendors
            rec = table.pick(self.rng, self.store.prefix)
            if rec is None or (rec.data["contact_type"] == "vendor") == vendor:
                break
        if rec is None:
            rec = self.store.record("contacts", 0)
        assert rec is not None, "transactions need at least one contact"
        return rec

    def pick_item(self) -> Record:
        """Return a random item, live or deleted."""
        table = self.store.table("items")
        rec = table.pick(self.rng, self.store.prefix) or self.store.record("items", 0)
        assert rec is not None, "transactions need at least one item"
        return rec

    def new_line(self, path: str, rec_seq: int, line_no: int, purchase: bool) -> Line:
        """Return a line for a random item at its sale (or purchase) rate."""
        item = self.pick_item()
        rate = item.data["purchase_rate" if purchase else "rate"]
        qty = float(self.rng.randint(1, 20))
        loc = self.rng.randrange(len(self.store.sites))
        return Line(line_id(self.store.prefix, path, rec_seq, line_no), item.seq, qty, rate, loc)

    def _lines(self, path: str, seq: int, purchase: bool = False) -> list[Line]:
        return [self.new_line(path, seq, n, purchase) for n in range(self.rng.randint(1, 5))]

    def _party(self, contact: Record, vendor: bool) -> dict[str, Any]:
        name = contact.data["contact_name"]
        if vendor:
            return {"vendor_id": contact.id, "vendor_name": name}
        return {"customer_id": contact.id, "customer_name": name}

    # -- entities ------------------------------------------------------------------------

    def location(self, seq: int, created: int, lm: int) -> Record:
        """Return a business location (the first) or a warehouse location."""
        city = names.CITIES[seq % len(names.CITIES)]
        rid = self.store.id_of("locations", seq)
        data: dict[str, Any] = {
            "location_id": rid,
            "location_name": "Head Office" if seq == 0 else f"{city} Warehouse {seq}",
            "type": "general" if seq == 0 else "warehouse",
            "parent_location_id": "" if seq == 0 else self.store.id_of("locations", 0),
            "is_primary": seq == 0,
            "status": "active",
            "email": f"location{seq + 1}@example.com",
            "phone": f"+964 770 {self.rng.randrange(10**7):07d}",
            "address": {
                "attention": "",
                "street_address1": f"{self.rng.randint(1, 300)} Industrial Road",
                "street_address2": "",
                "city": city,
                "state": city,
                "state_code": "",
                "country": "Iraq",
                "zip": "",
            },
            "tax_settings_id": "",
            "associated_series_ids": [],
            "auto_number_generation_id": "",
            "is_all_users_selected": True,
            "associated_users": [],
        }
        self._times(data, created, lm)
        return Record(rid, seq, data, created, lm)

    def item(self, seq: int, created: int, lm: int) -> Record:
        """Return an inventory item with stock spread over every location."""
        rng = self.rng
        rid = self.store.id_of("items", seq)
        rate = money(rng.uniform(1, 500))
        stock = []
        for _ in self.store.sites:
            on_hand = float(rng.randint(0, 200)) if rng.random() < 0.7 else 0.0
            committed = float(rng.randint(0, int(on_hand) // 5))
            stock.append([on_hand, committed, committed + float(rng.randint(0, 2))])
        name = self._text(names.item_name(rng))
        data: dict[str, Any] = {
            "item_id": rid,
            "name": name,
            "sku": f"SKU-{seq + 1:06d}",
            "status": "active" if rng.random() > 0.05 else "inactive",
            "source": "user",
            "is_linked_with_zohocrm": False,
            "item_type": "inventory",
            "product_type": "goods",
            "description": self._text(f"{name} for trade use") if rng.random() < 0.5 else "",
            "rate": rate,
            "purchase_rate": money(rate * rng.uniform(0.5, 0.9)),
            "unit": rng.choice(names.UNITS),
            "is_taxable": True,
            "tax_id": "",
            "tax_name": "",
            "purchase_description": "",
            "reorder_level": float(rng.choice((0, 5, 10, 20))),
            "group_id": "",
            "group_name": "",
            "brand": rng.choice(("", "Acme", "Rafidain", "Nour")),
            "manufacturer": "",
            "stock_on_hand": 0.0,
            "available_stock": 0.0,
            "actual_available_stock": 0.0,
            "image_id": "",
            "image_name": "",
            "image_type": "",
            "image_document_id": "",
            "has_attachment": False,
        }
        rec = Record(rid, seq, data, created, lm, stock=stock)
        if rng.random() < self.store.image_fraction:
            set_image(self.store, rec, rng.choice(("jpg", "jpg", "png")))
        sync_stock(rec)
        self._times(data, created, lm)
        return rec

    def contact(self, seq: int, created: int, lm: int) -> Record:
        """Return a customer (or, for every fifth seq, a vendor)."""
        rng = self.rng
        rid = self.store.id_of("contacts", seq)
        vendor = seq % 5 == 4
        first, last = names.person(rng)
        firm = names.company(rng)
        name = self._text(firm if rng.random() < 0.7 else f"{first} {last}")
        terms = rng.choice(((0, "Due on Receipt"), (15, "Net 15"), (30, "Net 30"), (45, "Net 45")))
        owed = 0.0 if vendor or rng.random() < 0.5 else money(rng.uniform(10, 20_000))
        data: dict[str, Any] = {
            "contact_id": rid,
            "contact_name": name,
            "customer_name": name,
            "vendor_name": name,
            "company_name": firm,
            "website": "",
            "language_code": "en",
            "contact_type": "vendor" if vendor else "customer",
            "customer_sub_type": "business" if name == firm else "individual",
            "status": "active" if rng.random() > 0.05 else "inactive",
            "source": "user",
            "is_linked_with_zohocrm": False,
            "payment_terms": terms[0],
            "payment_terms_label": terms[1],
            "currency_id": self.currency_id,
            "currency_code": self.store.org.currency_code,
            "outstanding_receivable_amount": owed,
            "outstanding_receivable_amount_bcy": owed,
            "outstanding_payable_amount": money(rng.uniform(0, 5_000)) if vendor else 0.0,
            "unused_credits_receivable_amount": 0.0,
            "first_name": first,
            "last_name": last,
            "email": f"{first}.{last}{seq}@example.com".lower().replace("'", ""),
            "phone": "" if rng.random() < 0.3 else f"+964 780 {rng.randrange(10**7):07d}",
            "mobile": "",
            "has_attachment": False,
        }
        self._times(data, created, lm)
        return Record(rid, seq, data, created, lm)


def set_image(store: Store, rec: Record, kind: str | None) -> None:
    """Attach a new image version to an item (or remove it when kind is None)."""
    data = rec.data
    if kind is None:
        data.update(image_id="", image_name="", image_type="", image_document_id="")
        return
    rec.image_rev += 1
    image = aux_id(store.prefix, IMAGE_CODE, rec.seq * 1000 + rec.image_rev % 1000, width=19)
    data.update(
        image_id=image,
        image_name=f"{data['sku'].lower()}-{rec.image_rev}.{kind}",
        image_type=kind,
        image_document_id=image,
    )


def sync_stock(rec: Record) -> None:
    """Copy the per-location sums into the item's stock fields."""
    stock = rec.stock or []
    on_hand = sum(s[0] for s in stock)
    rec.data["stock_on_hand"] = on_hand
    rec.data["available_stock"] = on_hand - sum(s[1] for s in stock)
    rec.data["actual_available_stock"] = on_hand - sum(s[2] for s in stock)


def recompute(rec: Record) -> None:
    """Recompute a document's amounts from its lines, keeping each field's JSON type."""
    sub = money(sum(money(line.quantity * line.rate) for line in rec.lines or []))
    tax = money(sub * rec.hidden.get("tax_percentage", 0.0) / 100)
    total = money(sub + tax + rec.hidden.get("shipping_charge", 0.0))
    balance = money(total * (1 - rec.hidden.get("paid_share", 0.0)))
    rec.hidden["sub_total"] = sub
    rec.hidden["tax_total"] = tax
    data = rec.data
    if "sub_total" in data:
        data["sub_total"] = sub
    if "bcy_total" in data:
        data["bcy_total"] = total
    as_text = "invoice_id" in data and rec.seq % 4 == 1  # Zoho sends these as strings at times
    data["total"] = f"{total:.2f}" if as_text else total
    if "balance" in data:
        data["balance"] = f"{balance:.2f}" if as_text else balance
    if "shipping_charge" in data:
        data["shipping_charge"] = f"{rec.hidden.get('shipping_charge', 0.0):.2f}"
