"""Render records as GET returns them: list fields plus detail fields and line items."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from simulator import names
from simulator.ids import ACCOUNT_CODE, MISC_CODE, PERSON_CODE, aux_id
from simulator.masters import money
from simulator.stockview import stock_arrays
from simulator.store import Line, Record, Store

Json = dict[str, Any]


class Renderer:
    """Turns stored records into Zoho-shaped JSON objects."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._vendors: dict[str, tuple[str, str]] = {}
        self._full: dict[str, Callable[[Record], Json]] = {
            "items": self._item,
            "contacts": self._contact,
            "salesorders": self._salesorder,
            "invoices": self._invoice,
            "customerpayments": self._customerpayment,
            "creditnotes": self._creditnote,
            "bills": self._bill,
            "vendorpayments": self._vendorpayment,
            "locations": lambda rec: dict(rec.data),
        }

    def list_view(self, rec: Record) -> Json:
        """Return the fields a list response carries (shared, not copied: do not mutate)."""
        return rec.data

    def full(self, path: str, rec: Record) -> Json:
        """Return the record as GET /{path}/{id} returns it."""
        return self._full[path](rec)

    # -- helpers -------------------------------------------------------------------------

    def _rng(self, path: str, rec: Record) -> random.Random:
        # Static detail fields come from a per-record seed, so they need not be stored.
        return random.Random(f"{self.store.seed}:{path}:{rec.seq}:detail")

    def _address(self, rng: random.Random, attention: str) -> Json:
        city = rng.choice(names.CITIES)
        return {
            "attention": attention,
            "address": f"{rng.randint(1, 999)} {rng.choice(names.LAST)} Street",
            "street2": "",
            "state_code": "",
            "city": city,
            "state": city,
            "zip": "",
            "country": "Iraq",
            "fax": "",
            "phone": "",
        }

    def _contact_of(self, rec: Record, key: str) -> Record | None:
        return self.store.table("contacts").lookup(rec.data.get(key, ""))

    def _currency(self) -> Json:
        return {
            "currency_id": aux_id(self.store.prefix, MISC_CODE, 0),
            "currency_code": self.store.org.currency_code,
            "currency_symbol": self.store.org.currency_symbol,
        }

    def _lines(self, path: str, rec: Record) -> list[Json]:
        return [self._line(path, rec, n, line) for n, line in enumerate(rec.lines or [], 1)]

    def _line(self, path: str, rec: Record, order: int, line: Line) -> Json:
        item = self.store.record("items", line.item_seq)
        data = item.data if item else {}
        pct = rec.hidden.get("tax_percentage", 0.0)
        quantity: float | int = int(line.quantity) if path == "creditnotes" else line.quantity
        out: Json = {
            "line_item_id": line.line_item_id,
            "item_id": self.store.id_of("items", line.item_seq),
            "sku": data.get("sku", ""),
            "name": data.get("name", "Deleted item"),
            "description": "",
            "item_order": order,
            "rate": line.rate,
            "quantity": quantity,
            "unit": data.get("unit", ""),
            "tax_id": "",
            "tax_name": "VAT" if pct else "",
            "tax_type": "tax",
            "item_total": money(line.quantity * line.rate),
            "product_type": "goods",
        }
        if path != "bills":  # the Books bills copy types these as integers; real ones are not
            out["bcy_rate"] = line.rate
            out["tax_percentage"] = pct
        site = self.store.sites[line.location_index % len(self.store.sites)]
        if self.store.shape == "locations":
            out.update(location_id=site.id, location_name=site.data["location_name"])
        else:
            out.update(warehouse_id=site.id, warehouse_name=site.data["location_name"])
        if path == "salesorders":
            done = rec.data["quantity_invoiced"] > 0
            out.update(
                quantity_invoiced=line.quantity if done else 0.0,
                quantity_packed=line.quantity if done else 0.0,
                quantity_shipped=line.quantity if done else 0.0,
                is_invoiced=done,
            )
        elif path == "invoices":
            out.update(discount_amount=0.0, discount=0.0, item_type="inventory")
        else:
            account = 1 if path == "bills" else 0
            out.update(
                account_id=aux_id(self.store.prefix, ACCOUNT_CODE, 10 + account),
                account_name=("Sales", "Cost of Goods Sold")[account],
            )
        return out

    def _document(self, path: str, rec: Record, party_key: str) -> Json:
        rng = self._rng(path, rec)
        contact = self._contact_of(rec, party_key)
        attention = contact.data["contact_name"] if contact else ""
        tax = rec.hidden.get("tax_total", 0.0)
        out = dict(rec.data)
        out.update(self._currency())
        out.update(
            line_items=self._lines(path, rec),
            sub_total=rec.hidden.get("sub_total", 0.0),
            tax_total=tax,
            taxes=[{"tax_name": "VAT", "tax_amount": tax}] if tax else [],
            exchange_rate=1.0,
            price_precision=2,
            is_inclusive_tax=False,
            adjustment=0.0,
            adjustment_description="Adjustment",
            notes=rec.hidden.get("notes", ""),
            terms="",
            custom_fields=[],
            template_id=aux_id(self.store.prefix, MISC_CODE, 1),
            template_name="Standard Template",
            email=contact.data["email"] if contact else "",
        )
        if path != "bills":  # the Inventory bills copy types billing_address as an array
            out["billing_address"] = self._address(rng, attention)
            out["shipping_address"] = self._address(rng, attention)
        return out

    # -- entities ------------------------------------------------------------------------

    def _item(self, rec: Record) -> Json:
        rng = self._rng("items", rec)
        out = dict(rec.data)
        vendor_id, vendor_name = self._vendor(rec)
        stock = rec.stock or []
        committed = sum(s[1] for s in stock)
        out.update(
            can_be_sold=True,
            can_be_purchased=True,
            track_inventory=True,
            account_id=aux_id(self.store.prefix, ACCOUNT_CODE, 10),
            account_name="Sales",
            purchase_account_id=aux_id(self.store.prefix, ACCOUNT_CODE, 11),
            purchase_account_name="Cost of Goods Sold",
            inventory_account_id=aux_id(self.store.prefix, ACCOUNT_CODE, 12),
            vendor_id=vendor_id,
            vendor_name=vendor_name,
            committed_stock=committed,
            actual_committed_stock=sum(s[2] for s in stock),
            available_for_sale_stock=rec.data["available_stock"],
            actual_available_for_sale_stock=rec.data["actual_available_stock"],
            item_tax_preferences=[],
            custom_fields=[],
        )
        if rng.random() < 0.3:
            out["custom_fields"] = [
                {"index": 1, "label": "Origin", "value": rng.choice(names.CITIES)}
            ]
        out.update(stock_arrays(self.store, rec))
        return out

    def _vendor(self, rec: Record) -> tuple[str, str]:
        """An item's preferred vendor, fixed at its first rendering: a detail field that
        no change of the item moves, so it must not move when contacts come and go (the
        item's last_modified_time would not say so)."""
        found = self._vendors.get(rec.id)
        if found is None:
            contacts = self.store.table("contacts")
            pick = random.Random(f"{self.store.seed}:items:{rec.seq}:vendor")
            vendor_seq = 5 * pick.randrange(max(1, contacts.next_seq // 5)) + 4
            vendor = contacts.lookup(self.store.id_of("contacts", vendor_seq))
            found = (vendor.id, vendor.data["contact_name"]) if vendor else ("", "")
            self._vendors[rec.id] = found
        return found

    def _contact(self, rec: Record) -> Json:
        rng = self._rng("contacts", rec)
        out = dict(rec.data)
        person_id = aux_id(self.store.prefix, PERSON_CODE, rec.seq)
        data = rec.data
        out.update(
            has_transaction=rng.random() < 0.7,
            credit_limit=0.0,
            is_taxable=True,
            primary_contact_id=person_id,
            currency_symbol=self.store.org.currency_symbol,
            unused_credits_receivable_amount_bcy=data["unused_credits_receivable_amount"],
            payment_reminder_enabled=True,
            facebook="",
            twitter="",
            notes="",
            billing_address=self._address(rng, data["contact_name"]),
            shipping_address=self._address(rng, data["contact_name"]),
            contact_persons=[
                {
                    "contact_person_id": person_id,
                    "salutation": "",
                    "first_name": data["first_name"],
                    "last_name": data["last_name"],
                    "email": data["email"],
                    "phone": data["phone"],
                    "mobile": data["mobile"],
                    "designation": "",
                    "department": "",
                    "skype": "",
                    "is_primary_contact": True,
                    "communication_preference": {
                        "is_sms_enabled": False,
                        "is_whatsapp_enabled": False,
                    },
                    "enable_portal": False,
                }
            ],
            custom_fields=[],
        )
        return out

    def _salesorder(self, rec: Record) -> Json:
        out = self._document("salesorders", rec, "customer_id")
        out.update(
            shipping_charge=rec.hidden.get("shipping_charge", 0.0),
            discount_amount=0.0,
            is_discount_before_tax=True,
            discount_type="entity_level",
            packages=[],
            invoices=[],
            purchaseorders=[],
            estimate_id="",
            salesperson_id="",
            pricebook_id="",
        )
        return out

    def _invoice(self, rec: Record) -> Json:
        out = self._document("invoices", rec, "customer_id")
        contact = self._contact_of(rec, "customer_id")
        total, balance = float(rec.data["total"]), float(rec.data["balance"])
        out.update(
            payment_terms=contact.data["payment_terms"] if contact else 0,
            payment_terms_label=contact.data["payment_terms_label"] if contact else "",
            payment_made=money(total - balance),
            credits_applied=0.0,
            tax_amount_withheld=0.0,
            allow_partial_payments=True,
            payment_reminder_enabled=True,
            discount=0.0,
            is_discount_before_tax=True,
            discount_type="item_level",
            recurring_invoice_id="",
            payment_options={"payment_gateways": []},
            attachment_name="",
            can_send_in_mail=True,
            invoice_url=f"https://books.example.com/secure?CInvoiceID={rec.id}",
        )
        return out

    def _creditnote(self, rec: Record) -> Json:
        out = self._document("creditnotes", rec, "customer_id")
        out["updated_time"] = rec.data["last_modified_time"]
        out["invoices"] = [
            {
                "invoice_id": self.store.id_of("invoices", seq),
                "invoice_number": f"INV-{seq + 1:06d}",
                "amount": float(rec.data["total"]),
            }
            for seq, _ in rec.refs or []
        ]
        return out

    def _bill(self, rec: Record) -> Json:
        out = self._document("bills", rec, "vendor_id")
        out.update(
            payment_terms=30,
            payment_terms_label="Net 30",
            purchaseorder_ids=[],
            payments=[],
            recurring_bill_id="",
            payment_expected_date="",
            is_item_level_tax_calc=False,
            documents=[],
        )
        return out

    def _applied(self, path: str, refs: list[tuple[int, float]]) -> list[Json]:
        table = self.store.table(path)
        rows = []
        for seq, amount in refs:
            target = table.lookup(self.store.id_of(path, seq))
            data = target.data if target else {}
            rows.append((self.store.id_of(path, seq), data, amount))
        if path == "invoices":
            return [
                {
                    "invoice_id": rid,
                    "invoice_number": data.get("invoice_number", ""),
                    "date": data.get("date", ""),
                    "invoice_amount": float(data.get("total", 0.0)),
                    "amount_applied": amount,
                    "balance_amount": float(data.get("balance", 0.0)),
                }
                for rid, data, amount in rows
            ]
        return [
            {
                "bill_payment_id": aux_id(self.store.prefix, MISC_CODE, 1000 + n, width=18),
                "bill_id": rid,
                "bill_number": data.get("bill_number", ""),
                "date": data.get("date", ""),
                "total": float(data.get("total", 0.0)),
                "balance": float(data.get("balance", 0.0)),
                "amount_applied": amount,
                "tax_amount_withheld": 0.0,
            }
            for n, (rid, data, amount) in enumerate(rows)
        ]

    def _customerpayment(self, rec: Record) -> Json:
        out = dict(rec.data)
        contact = self._contact_of(rec, "customer_id")
        out.update(self._currency())
        out.update(
            invoices=self._applied("invoices", rec.refs or []),
            exchange_rate=1.0,
            amount_refunded=0.0,
            bank_charges=0.0,
            status="success",
            email=contact.data["email"] if contact else "",
            tax_amount_withheld=0.0,
            tax_account_id="",
            tax_account_name="",
            custom_fields=[],
        )
        return out

    def _vendorpayment(self, rec: Record) -> Json:
        out = dict(rec.data)
        out.update(self._currency())
        out.update(
            bills=self._applied("bills", rec.refs or []),
            tax_account_name="",
            tax_amount_withheld=0.0,
            paid_through_account_type="bank",
            vendorpayment_refunds=[],
            documents=[],
            custom_fields=[],
        )
        return out
