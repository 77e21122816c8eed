"""Static facts about each Zoho entity: keys, id fields, sort columns and filters."""

from __future__ import annotations

from dataclasses import dataclass

# filter_by value -> (record field, accepted values); None means no filtering.
Filter = tuple[str, frozenset[str]] | None


@dataclass(frozen=True)
class EntitySpec:
    """How one entity appears in the API and in webhooks."""

    path: str  # list path and ground-truth name, e.g. "customerpayments"
    list_key: str
    single_key: str
    id_field: str
    hook_entity: str  # workflow-rule entity, e.g. "customerpayment"
    hook_key: str  # key of the default webhook payload, e.g. "payment"
    label: str  # "<label> does not exist."
    report_name: str
    sort_columns: frozenset[str]
    numeric_columns: frozenset[str]
    filters: dict[str, Filter]
    default_filter: str
    has_lines: bool = False
    # Exact-match list parameters the copies document (e.g. ?reference_number=ERP-1): the
    # write-back writer finds a create it may already have made by one of these.
    match_filters: frozenset[str] = frozenset()


def _status(*pairs: tuple[str, tuple[str, ...]]) -> dict[str, Filter]:
    table: dict[str, Filter] = {"Status.All": None}
    for name, values in pairs:
        table[f"Status.{name}"] = ("status", frozenset(values))
    return table


_ACTIVE = _status(("Active", ("active",)), ("Inactive", ("inactive",)))
_PAYMENT_MODES: dict[str, Filter] = {"PaymentMode.All": None} | {
    f"PaymentMode.{name}": ("payment_mode", frozenset({value}))
    for name, value in (
        ("Check", "check"),
        ("Cash", "cash"),
        ("BankTransfer", "banktransfer"),
        ("Paypal", "paypal"),
        ("CreditCard", "creditcard"),
        ("BankRemittance", "bankremittance"),
        ("AutoTransaction", "autotransaction"),
        ("Others", "others"),
    )
}
_TIMES = frozenset({"created_time", "last_modified_time"})


def _spec(
    path: str,
    single: str,
    id_field: str,
    hook: str,
    label: str,
    report: str,
    sort: set[str],
    numeric: set[str],
    filters: dict[str, Filter],
    *,
    hook_key: str | None = None,
    has_lines: bool = False,
    match: tuple[str, ...] = (),
) -> EntitySpec:
    return EntitySpec(
        path=path,
        list_key=path,
        single_key=single,
        id_field=id_field,
        hook_entity=hook,
        hook_key=hook_key or single,
        label=label,
        report_name=report,
        sort_columns=frozenset(sort) | _TIMES,
        numeric_columns=frozenset(numeric),
        filters=filters,
        default_filter=next(iter(filters)),
        has_lines=has_lines,
        match_filters=frozenset(match),
    )


ENTITIES: dict[str, EntitySpec] = {
    s.path: s
    for s in (
        _spec(
            "items",
            "item",
            "item_id",
            "item",
            "Item",
            "Items",
            {"name", "sku", "rate", "purchase_rate", "tax_name", "reorder_level", "stock_on_hand"},
            {"rate", "purchase_rate", "reorder_level", "stock_on_hand"},
            _ACTIVE,
            match=("sku", "name"),  # sku: Inventory's copy; name: both
        ),
        _spec(
            "contacts",
            "contact",
            "contact_id",
            "contact",
            "Contact",
            "Contacts",
            {
                "contact_name",
                "company_name",
                "first_name",
                "last_name",
                "email",
                "outstanding_receivable_amount",
            },
            {"outstanding_receivable_amount"},
            _ACTIVE,
            match=("contact_name", "company_name", "email", "phone"),
        ),
        _spec(
            "salesorders",
            "salesorder",
            "salesorder_id",
            "salesorder",
            "Sales Order",
            "Sales Orders",
            {
                "customer_name",
                "salesorder_number",
                "shipment_date",
                "reference_number",
                "total",
                "date",
            },
            {"total"},
            _status(
                ("Open", ("open",)),
                ("Draft", ("draft",)),
                ("OverDue", ("overdue",)),
                ("PartiallyInvoiced", ("partially_invoiced",)),
                ("Invoiced", ("invoiced",)),
                ("Void", ("void",)),
                ("Closed", ("closed",)),
                ("Confirmed", ("confirmed",)),
                ("Fulfilled", ("fulfilled",)),
            ),
            has_lines=True,
            match=("reference_number", "salesorder_number", "customer_id"),
        ),
        _spec(
            "invoices",
            "invoice",
            "invoice_id",
            "invoice",
            "Invoice",
            "Invoices",
            {"customer_name", "invoice_number", "date", "due_date", "total", "balance"},
            {"total", "balance"},
            _status(
                ("Sent", ("sent",)),
                ("Draft", ("draft",)),
                ("OverDue", ("overdue",)),
                ("Paid", ("paid",)),
                ("Void", ("void",)),
                ("Unpaid", ("sent", "viewed", "overdue", "partially_paid")),
                ("PartiallyPaid", ("partially_paid",)),
                ("Viewed", ("viewed",)),
            ),
            has_lines=True,
            match=("reference_number", "invoice_number", "customer_id"),
        ),
        _spec(
            "customerpayments",
            "payment",
            "payment_id",
            "customerpayment",
            "Payment",
            "Customer Payments",
            {"customer_name", "payment_number", "date", "amount", "reference_number"},
            {"amount"},
            _PAYMENT_MODES,
            match=("reference_number", "customer_id"),
        ),
        _spec(
            "creditnotes",
            "creditnote",
            "creditnote_id",
            "creditnote",
            "Credit Note",
            "Credit Notes",
            {"customer_name", "creditnote_number", "balance", "total", "date"},
            {"total", "balance"},
            _status(
                ("Open", ("open",)),
                ("Draft", ("draft",)),
                ("Closed", ("closed",)),
                ("Void", ("void",)),
            ),
            has_lines=True,
        ),
        _spec(
            "bills",
            "bill",
            "bill_id",
            "bill",
            "Bill",
            "Bills",
            {"vendor_name", "bill_number", "date", "due_date", "total", "balance"},
            {"total", "balance"},
            _status(
                ("PartiallyPaid", ("partially_paid",)),
                ("Paid", ("paid",)),
                ("Overdue", ("overdue",)),
                ("OverDue", ("overdue",)),
                ("Void", ("void",)),
                ("Open", ("open",)),
                ("Draft", ("draft",)),
            ),
            has_lines=True,
        ),
        _spec(
            "vendorpayments",
            "vendorpayment",
            "payment_id",
            "vendorpayment",
            "Vendor Payment",
            "Vendor Payments",
            {"vendor_name", "date", "reference_number", "amount", "balance", "payment_number"},
            {"amount", "balance", "payment_number"},
            _PAYMENT_MODES,
        ),
        _spec(
            "locations",
            "location",
            "location_id",
            "location",
            "Location",
            "Locations",
            {"location_name"},
            set(),
            {"Status.All": None},
        ),
    )
}

HOOK_TO_PATH = {s.hook_entity: s.path for s in ENTITIES.values()}
DOCUMENT_ENTITIES = tuple(p for p in ENTITIES if p != "locations")
