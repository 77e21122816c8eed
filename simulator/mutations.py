"""Edits and stock movements applied to existing records."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from simulator.errors import ControlError
from simulator.factories import Factory
from simulator.masters import money, recompute, set_image, sync_stock
from simulator.store import Record

# Fields an explicit edit may not set: identity, timestamps and values derived from others.
PROTECTED = frozenset(
    {
        "created_time",
        "last_modified_time",
        "stock_on_hand",
        "available_stock",
        "actual_available_stock",
        "total",
        "sub_total",
        "bcy_total",
        "balance",
    }
)


def set_fields(path: str, rec: Record, fields: dict[str, Any], id_field: str) -> None:
    """Apply an explicit edit; unknown or protected fields are refused."""
    bad = [k for k in fields if k not in settable(rec) and k != id_field] + (
        [id_field] if id_field in fields else []
    )
    if bad:
        raise ControlError(f"cannot set {sorted(bad)} on {path}", {"settable": settable(rec)})
    for key, value in fields.items():
        if isinstance(value, (dict, list)):
            raise ControlError(f"field {key!r} must be a scalar")
        rec.data[key] = value


def settable(rec: Record) -> list[str]:
    """Return the fields an explicit edit may set on this record."""
    return sorted(k for k in rec.data if k not in PROTECTED and not k.endswith("_id"))


def move_stock(rng: random.Random, rec: Record) -> None:
    """Apply one stock movement to an item: adjustment, transfer or sale."""
    stock = rec.stock
    if not stock:
        return
    i = rng.randrange(len(stock))
    kind = rng.random()
    if kind < 0.4:  # adjustment or receipt
        stock[i][0] = max(0.0, stock[i][0] + float(rng.randint(-5, 20)))
    elif kind < 0.6 and len(stock) > 1:  # transfer between locations
        j = (i + rng.randrange(1, len(stock))) % len(stock)
        qty = min(stock[i][0], float(rng.randint(1, 10)))
        stock[i][0] -= qty
        stock[j][0] += qty
    else:  # sale: stock leaves and its commitment is released
        qty = min(stock[i][0], float(rng.randint(1, 5)))
        stock[i][0] -= qty
        stock[i][1] = max(0.0, stock[i][1] - qty)
        stock[i][2] = max(0.0, stock[i][2] - qty)
    for loc in stock:
        loc[1] = min(loc[1], loc[0])
        loc[2] = min(max(loc[2], loc[1]), loc[0])
    sync_stock(rec)


class Editor:
    """Random but plausible edits per entity, drawn from a seeded RNG."""

    def __init__(self, factory: Factory) -> None:
        self.factory = factory
        self.rng = factory.rng
        self._edits: dict[str, Callable[[Record], None]] = {
            "items": self._item,
            "contacts": self._contact,
            "salesorders": self._salesorder,
            "invoices": self._invoice,
            "customerpayments": self._payment,
            "creditnotes": self._creditnote,
            "bills": self._bill,
            "vendorpayments": self._payment,
        }

    def edit(self, path: str, rec: Record) -> None:
        """Change one or two fields of a record."""
        self._edits[path](rec)

    def _item(self, rec: Record) -> None:
        rng, data = self.rng, rec.data
        roll = rng.random()
        if roll < 0.4:
            data["rate"] = money(data["rate"] * rng.uniform(0.9, 1.1) + 0.01)
        elif roll < 0.55:
            data["status"] = "inactive" if data["status"] == "active" else "active"
        elif roll < 0.7:
            kind = None if data["image_id"] and rng.random() < 0.3 else rng.choice(("jpg", "png"))
            set_image(self.factory.store, rec, kind)
        elif roll < 0.85:
            data["reorder_level"] = float(rng.choice((0, 5, 10, 20, 50)))
        else:
            data["description"] = f"{data['name']} (rev {rng.randrange(1000)})"

    def _contact(self, rec: Record) -> None:
        rng, data = self.rng, rec.data
        roll = rng.random()
        if roll < 0.4:
            data["phone"] = f"+964 780 {rng.randrange(10**7):07d}"
        elif roll < 0.6:
            data["status"] = "inactive" if data["status"] == "active" else "active"
        elif data["contact_type"] == "customer":
            data["outstanding_receivable_amount"] = money(rng.uniform(0, 20_000))
            data["outstanding_receivable_amount_bcy"] = data["outstanding_receivable_amount"]
        else:
            data["outstanding_payable_amount"] = money(rng.uniform(0, 5_000))

    def _change_lines(self, path: str, rec: Record) -> None:
        lines = rec.lines or []
        if lines and self.rng.random() < 0.6:
            n = self.rng.randrange(len(lines))
            lines[n] = lines[n]._replace(quantity=float(self.rng.randint(1, 30)))
        else:
            lines.append(self.factory.new_line(path, rec.seq, rec.next_line, path == "bills"))
            rec.next_line += 1
        rec.lines = lines
        recompute(rec)

    def _salesorder(self, rec: Record) -> None:
        data = rec.data
        flow = {"draft": "open", "open": "confirmed", "confirmed": "invoiced", "invoiced": "closed"}
        if data["status"] in ("draft", "open") and self.rng.random() < 0.5:
            self._change_lines("salesorders", rec)
            data["quantity"] = sum(line.quantity for line in rec.lines or [])
        elif data["status"] in flow:
            data["status"] = data["order_status"] = flow[data["status"]]
            if data["status"] in ("invoiced", "closed"):
                data["invoiced_status"] = "invoiced"
                data["quantity_invoiced"] = data["quantity"]
        else:
            data["reference_number"] = f"REF-{self.rng.randrange(10**6):06d}"

    def _settle(self, rec: Record, paid_status: str) -> None:
        share = rec.hidden.get("paid_share", 0.0)
        rec.hidden["paid_share"] = share = min(1.0, share + self.rng.choice((0.5, 1.0)))
        rec.data["status"] = "paid" if share >= 1.0 else paid_status
        recompute(rec)

    def _invoice(self, rec: Record) -> None:
        status = rec.data["status"]
        if status == "draft" and self.rng.random() < 0.5:
            self._change_lines("invoices", rec)
        elif status == "draft":
            rec.data["status"] = "sent"
        elif status in ("sent", "viewed", "overdue", "partially_paid"):
            self._settle(rec, "partially_paid")
        else:
            rec.data["reference_number"] = f"REF-{self.rng.randrange(10**6):06d}"

    def _creditnote(self, rec: Record) -> None:
        if rec.data["status"] in ("draft", "open"):
            rec.data["status"] = "open" if rec.data["status"] == "draft" else "closed"
            rec.hidden["paid_share"] = 1.0 if rec.data["status"] == "closed" else 0.0
            recompute(rec)
        else:
            rec.data["reference_number"] = f"REF-{self.rng.randrange(10**6):06d}"

    def _bill(self, rec: Record) -> None:
        if rec.data["status"] in ("open", "overdue", "partially_paid"):
            self._settle(rec, "partially_paid")
        else:
            rec.data["reference_number"] = f"REF-{self.rng.randrange(10**6):06d}"

    def _payment(self, rec: Record) -> None:
        if self.rng.random() < 0.5:
            rec.data["reference_number"] = f"REF-{self.rng.randrange(10**6):06d}"
        else:
            rec.data["description"] = f"Payment note {self.rng.randrange(10**4)}"
