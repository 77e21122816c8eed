"""Word lists and hostile strings for the generator."""

from __future__ import annotations

import random

ADJECTIVES = (
    "Steel",
    "Copper",
    "Brass",
    "Heavy",
    "Light",
    "Industrial",
    "Compact",
    "Premium",
    "Basic",
    "Galvanized",
    "Stainless",
    "Plastic",
    "Rubber",
    "Ceramic",
    "Digital",
    "Solar",
    "Smart",
    "Portable",
    "Outdoor",
    "Indoor",
    "Blue",
    "Red",
    "Black",
    "White",
    "Green",
)
NOUNS = (
    "Bolt",
    "Nut",
    "Washer",
    "Cable",
    "Pipe",
    "Valve",
    "Switch",
    "Socket",
    "Lamp",
    "Panel",
    "Battery",
    "Charger",
    "Drill",
    "Hammer",
    "Wrench",
    "Bracket",
    "Hinge",
    "Fan",
    "Pump",
    "Filter",
    "Sensor",
    "Relay",
    "Adapter",
    "Connector",
    "Tape",
)
SIZES = ("S", "M", "L", "XL", "10mm", "20mm", "1in", "2in", "5m", "10m", "1kg", "500g", "")
UNITS = ("pcs", "box", "kg", "m", "set", "pack", "qty")
FIRST = (
    "Ahmed",
    "Sara",
    "Omar",
    "Layla",
    "Ali",
    "Noor",
    "Hassan",
    "Zainab",
    "John",
    "Maria",
    "Wei",
    "Aisha",
    "Yusuf",
    "Fatima",
    "Karim",
    "Mona",
    "Peter",
    "Elena",
    "Ravi",
    "Hana",
)
LAST = (
    "Hassan",
    "Al-Rashid",
    "Kareem",
    "Smith",
    "Garcia",
    "Chen",
    "Haddad",
    "Saleh",
    "Jaber",
    "Nasser",
    "Müller",
    "Dubois",
    "Okafor",
    "Tanaka",
    "Ivanova",
    "Rahman",
    "Sultan",
    "Aziz",
)
COMPANY_WORDS = (
    "Trading",
    "Supplies",
    "Logistics",
    "Engineering",
    "Electric",
    "Hardware",
    "Import",
    "Export",
    "Group",
    "Industries",
    "Solutions",
    "Builders",
    "Services",
)
CITIES = ("Baghdad", "Basra", "Erbil", "Mosul", "Najaf", "Dubai", "Amman", "Istanbul")
ARABIC = ("شركة النور", "مؤسسة الفرات", "مخازن بغداد", "تجارة الرافدين", "مصباح", "كابل نحاس")

# Seen in the wild or chosen to break naive escaping, SQL building, templating and encoding.
HOSTILE = (
    "<script>alert(1)</script>",
    "'; DROP TABLE items; --",
    'Robert"); DROP TABLE contacts;-- "quoted"',
    "O'Brien & Sons <b>bold</b>",
    "Ünïcødé naïve café — 日本語 — العربية — 📦🚚",
    "Line one\nLine two\tTabbed \\ backslash",
    "%s %d {0} ${ITEM.ITEM_ID} {{template}}",
    "   padded name with trailing spaces   ",
    "zero\u200bwidth and \u202eright-to-left override",
    "Long " + "x" * 250,
)


def maybe_hostile(rng: random.Random, fraction: float, text: str) -> str:
    """Return text, or (for a small seeded fraction) a hostile string built around it."""
    if rng.random() >= fraction:
        return text
    return f"{rng.choice(HOSTILE)} {text}"


def item_name(rng: random.Random) -> str:
    """Return a plausible product name."""
    name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    size = rng.choice(SIZES)
    if rng.random() < 0.05:
        name = f"{rng.choice(ARABIC)} {name}"
    return f"{name} {size}".strip()


def person(rng: random.Random) -> tuple[str, str]:
    """Return a (first, last) name pair."""
    return rng.choice(FIRST), rng.choice(LAST)


def company(rng: random.Random) -> str:
    """Return a plausible company name."""
    if rng.random() < 0.1:
        return rng.choice(ARABIC)
    return f"{rng.choice(LAST)} {rng.choice(COMPANY_WORDS)}"
