"""Every PostgreSQL connection of TDS opens through tds.postgres, which names DATABASE_URL."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

from tds.postgres import describe, tls_error

ROOT = Path(__file__).parents[3]
STAGES = ("tds", "api", "producers", "consumers", "projections", "streams")
DIRECT = re.compile(r"asyncpg\.(connect|create_pool)\(")


def test_no_stage_opens_postgres_around_the_helper() -> None:
    found = [f"{path.relative_to(ROOT)}:{n}"
             for stage in STAGES for path in sorted((ROOT / stage).rglob("*.py"))
             if path != ROOT / "tds" / "postgres.py"
             for n, line in enumerate(path.read_text().splitlines(), 1) if DIRECT.search(line)]
    assert found == []


def test_the_error_names_the_setting_and_hides_the_password() -> None:
    url = "postgresql://tds:pw-Aa12@db.internal:6432/tds?sslmode=verify-full&sslrootcert=/ca.crt"
    assert describe(url) == "db.internal:6432 sslmode=verify-full sslrootcert=/ca.crt"
    refused = ssl.SSLCertVerificationError(1, "certificate verify failed")
    refused.verify_message = "Hostname mismatch, certificate is not valid for 'db.internal'"
    message = str(tls_error(url, refused))
    assert message.startswith("DATABASE_URL: TLS with PostgreSQL at db.internal:6432 "
                              "sslmode=verify-full")
    assert "Hostname mismatch" in message
    assert "pw-Aa12" not in message
