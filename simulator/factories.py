"""Build one seeded record of any entity; used for the initial data and for creates."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from simulator.ids import ACCOUNT_CODE, aux_id
from simulator.masters import DAY, BaseFactory, money, recompute
from simulator.store import Record, Store

ACCOUNTS = ("Undeposited Funds", "Petty Cash", "Bank - Rafidain", "Bank - Rasheed")
PAYMENT_MODES = ("cash", "banktransfer", "check", "creditcard", "bankremittance", "others")
SO_STATUSES = (
    ("draft", 10),
    ("open", 25),
    ("confirmed", 20),
    ("invoiced", 20),
    ("partially_invoiced", 5),
    ("fulfilled", 10),
    ("closed", 5),
    ("void", 5),
)
INVOICE_STATUSES = (
    ("paid", 40),
    ("sent", 18),
    ("overdue", 10),
    ("partially_paid", 10),
    ("draft", 10),
    ("viewed", 7),
    ("void", 5),
)
BILL_STATUSES = (("paid", 45), ("open", 30), ("overdue", 10), ("partially_paid", 10), ("void", 5))
CN_STATUSES = (("closed", 50), ("open", 35), ("draft", 10), ("void", 5))


def weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    """Pick a value from (value, weight) pairs."""
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


class Factory(BaseFactory):
    """Creates records of every entity from a seeded RNG and the current store."""

    def __init__(self, store: Store, rng: random.Random) -> None:
        super().__init__(store, rng)
        self._makers: dict[str, Callable[[int, int, int], Record]] = {
            "locations": self.location,
            "items": self.item,
            "contacts": self.contact,
            "salesorders": self.salesorder,
            "invoices": self.invoice,
            "customerpayments": self.customerpayment,
            "creditnotes": self.creditnote,
            "bills": self.bill,
            "vendorpayments": self.vendorpayment,
        }

    def make(self, path: str, seq: int, created: int, lm: int) -> Record:
        """Return a new record of an entity; the caller adds it to its table."""
        return self._makers[path](seq, created, lm)

    def _document(
        self, path: str, seq: int, created: int, lm: int, vendor: bool
    ) -> tuple[Record, Record]:
        contact = self.pick_contact(vendor)
        rid = self.store.id_of(path, seq)
        lines = self._lines(path, seq, purchase=vendor)
        rec = Record(rid, seq, {}, created, lm, lines=lines, next_line=len(lines))
        rec.hidden["tax_percentage"] = self.rng.choice((0.0, 0.0, 5.0))
        rec.hidden["shipping_charge"] = money(self.rng.choice((0, 0, 0, 5, 10, 25)))
        rec.hidden["notes"] = self._text("Thank you for your business.")
        return rec, contact

    def salesorder(self, seq: int, created: int, lm: int) -> Record:
        """Return a sales order with line items."""
        rec, customer = self._document("salesorders", seq, created, lm, vendor=False)
        status = weighted(self.rng, SO_STATUSES)
        qty = sum(line.quantity for line in rec.lines or [])
        done = status in ("invoiced", "fulfilled", "closed")
        rec.data.update(
            salesorder_id=rec.id,
            **self._party(customer, vendor=False),
            email=customer.data["email"],
            status=status,
            order_status=status,
            invoiced_status="invoiced" if done else "not_invoiced",
            paid_status="paid" if status == "closed" else "unpaid",
            shipped_status="fulfilled" if done else "pending",
            salesorder_number=f"SO-{seq + 1:05d}",
            reference_number=self._reference(),
            date=self._date(created),
            shipment_date=self._date(created + 7 * DAY),
            shipment_days=7,
            currency_id=self.currency_id,
            currency_code=self.store.org.currency_code,
            total=0.0,
            sub_total=0.0,
            bcy_total=0.0,
            quantity=qty,
            quantity_invoiced=qty if done else 0.0,
            quantity_packed=qty if done else 0.0,
            quantity_shipped=qty if done else 0.0,
            is_emailed=self.rng.random() < 0.5,
            is_drop_shipment=False,
            is_backorder=False,
            sales_channel="direct_sales",
            delivery_method="",
            salesperson_name="",
            **self._place(self.rng.randrange(len(self.store.sites))),
            has_attachment=False,
        )
        recompute(rec)
        self._times(rec.data, created, lm)
        return rec

    def invoice(self, seq: int, created: int, lm: int) -> Record:
        """Return an invoice; a quarter of them carry total and balance as strings."""
        rec, customer = self._document("invoices", seq, created, lm, vendor=False)
        status = weighted(self.rng, INVOICE_STATUSES)
        rec.hidden["paid_share"] = {"paid": 1.0, "void": 1.0, "partially_paid": 0.4}.get(
            status, 0.0
        )
        rec.data.update(
            invoice_id=rec.id,
            ach_payment_initiated=False,
            **self._party(customer, vendor=False),
            status=status,
            invoice_number=f"INV-{seq + 1:06d}",
            reference_number=self._reference(),
            date=self._date(created),
            due_date=self._date(created + customer.data["payment_terms"] * DAY),
            due_days="",
            currency_id=self.currency_id,
            schedule_time="",
            currency_code=self.store.org.currency_code,
            is_viewed_by_client=status == "viewed",
            has_attachment=False,
            client_viewed_time="",
            total=0.0,
            balance=0.0,
            is_emailed=status != "draft",
            reminders_sent=0,
            last_reminder_sent_date="",
            payment_expected_date="",
            last_payment_date=self._date(created + DAY) if status == "paid" else "",
            documents="",
            **self._place(self.rng.randrange(len(self.store.sites))),
            salesperson_id="",
            salesperson_name="",
            shipping_charge="",
            adjustment=0.0,
            write_off_amount=0.0,
            exchange_rate=1.0,
        )
        recompute(rec)
        self._times(rec.data, created, lm)
        return rec

    def creditnote(self, seq: int, created: int, lm: int) -> Record:
        """Return a credit note (integer quantities, as the spec types them)."""
        rec, customer = self._document("creditnotes", seq, created, lm, vendor=False)
        status = weighted(self.rng, CN_STATUSES)
        rec.hidden["paid_share"] = 1.0 if status in ("closed", "void") else 0.0
        invoices = self.store.table("invoices")
        if status == "closed" and invoices.next_seq:
            rec.refs = [(self.rng.randrange(invoices.next_seq), 0.0)]
        rec.data.update(
            creditnote_id=rec.id,
            creditnote_number=f"CN-{seq + 1:05d}",
            status=status,
            reference_number=self._reference(),
            date=self._date(created),
            total=0.0,
            balance=0.0,
            **self._place(self.rng.randrange(len(self.store.sites))),
            **self._party(customer, vendor=False),
            currency_id=self.currency_id,
            currency_code=self.store.org.currency_code,
            is_emailed=self.rng.random() < 0.5,
        )
        recompute(rec)
        self._times(rec.data, created, lm)
        return rec

    def bill(self, seq: int, created: int, lm: int) -> Record:
        """Return a vendor bill priced at purchase rates."""
        rec, vendor = self._document("bills", seq, created, lm, vendor=True)
        status = weighted(self.rng, BILL_STATUSES)
        rec.hidden["paid_share"] = {"paid": 1.0, "void": 1.0, "partially_paid": 0.5}.get(
            status, 0.0
        )
        rec.data.update(
            bill_id=rec.id,
            **self._party(vendor, vendor=True),
            status=status,
            bill_number=f"BILL-{seq + 1:05d}",
            reference_number=self._reference(),
            date=self._date(created),
            due_date=self._date(created + 30 * DAY),
            due_days="",
            currency_id=self.currency_id,
            currency_code=self.store.org.currency_code,
            price_precision=2,
            exchange_rate=1.0,
            total=0.0,
            balance=0.0,
            **self._place(self.rng.randrange(len(self.store.sites))),
            attachment_name="",
            has_attachment=False,
        )
        recompute(rec)
        self._times(rec.data, created, lm)
        return rec

    def _payment_refs(self, path: str) -> list[tuple[int, float]]:
        table = self.store.table(path)
        refs = []
        for _ in range(self.rng.choice((1, 1, 1, 2))):
            if not table.next_seq:
                break
            target = table.lookup(self.store.id_of(path, self.rng.randrange(table.next_seq)))
            total = float(target.data["total"]) if target else 100.0
            refs.append((target.seq if target else 0, money(total * self.rng.choice((1, 1, 0.5)))))
        return refs

    def customerpayment(self, seq: int, created: int, lm: int) -> Record:
        """Return a customer payment applied to one or two invoices."""
        customer = self.pick_contact(vendor=False)
        rid = self.store.id_of("customerpayments", seq)
        refs = self._payment_refs("invoices")
        amount = money(sum(a for _, a in refs) or self.rng.uniform(10, 1000))
        account = self.rng.randrange(len(ACCOUNTS))
        data: dict[str, Any] = {
            "payment_id": rid,
            "payment_number": str(seq + 1),
            "invoice_numbers": ", ".join(f"INV-{s + 1:06d}" for s, _ in refs),
            "invoice_number": ", ".join(f"INV-{s + 1:06d}" for s, _ in refs),
            "date": self._date(created),
            "payment_mode": self.rng.choice(PAYMENT_MODES),
            "amount": amount,
            "bcy_amount": f"{amount:.2f}",
            "unused_amount": 0.0,
            "account_id": aux_id(self.store.prefix, ACCOUNT_CODE, account),
            "account_name": ACCOUNTS[account],
            "description": "",
            "reference_number": self._reference(),
            **self._party(customer, vendor=False),
            **self._place(self.rng.randrange(len(self.store.sites))),
            "has_attachment": False,
        }
        self._times(data, created, lm)
        return Record(rid, seq, data, created, lm, refs=refs)

    def vendorpayment(self, seq: int, created: int, lm: int) -> Record:
        """Return a vendor payment applied to one or two bills."""
        vendor = self.pick_contact(vendor=True)
        rid = self.store.id_of("vendorpayments", seq)
        refs = self._payment_refs("bills")
        amount = money(sum(a for _, a in refs) or self.rng.uniform(10, 1000))
        account = self.rng.randrange(len(ACCOUNTS))
        data: dict[str, Any] = {
            "payment_id": rid,
            **self._party(vendor, vendor=True),
            "bill_numbers": ", ".join(f"BILL-{s + 1:05d}" for s, _ in refs),
            "payment_mode": self.rng.choice(PAYMENT_MODES),
            "payment_number": seq + 1,
            "date": self._date(created),
            "reference_number": self._reference(),
            "exchange_rate": 1.0,
            "amount": amount,
            "bcy_amount": amount,
            "paid_through_account_id": aux_id(self.store.prefix, ACCOUNT_CODE, account),
            "paid_through_account_name": ACCOUNTS[account],
            "balance": 0.0,
            "bcy_balance": 0.0,
            "description": "",
            **self._place(self.rng.randrange(len(self.store.sites))),
            "has_attachment": False,
            "is_paid_via_print_check": False,
            "is_ach_payment": False,
            "ach_payment_status": "",
        }
        self._times(data, created, lm)
        return Record(rid, seq, data, created, lm, refs=refs)
