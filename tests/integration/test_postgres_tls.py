"""PostgreSQL over TLS: `DATABASE_URL?sslmode=verify-full&sslrootcert=…` is honoured by every
pool and connection TDS opens and by `tds migrate`; a wrong CA or host name is refused with
an error that names DATABASE_URL.

The server is a throwaway cluster (the provisioned one stays plaintext for everything else)
started with `ssl=on`, a certificate for 127.0.0.1 signed by a CA made here with openssl,
and a pg_hba.conf that admits TLS sessions only, so a session that works used TLS.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from producers.pollers.scheduler import Leadership
from producers.zoho.tokens import PgTokenStore
from projections.database import open_pool
from tds import postgres
from tds.commands.migrate import MIGRATIONS
from tds.errors import DatabaseTLSError
from tds.migrate import apply
from tds.provision.common import free_port
from tds.provision.postgres import _bin, _run


@dataclass(frozen=True)
class TlsServer:
    """A TLS-only PostgreSQL on 127.0.0.1 (and 127.0.0.2, which its certificate does not name)."""

    port: int
    ca: Path
    other_ca: Path

    def url(self, host: str = "127.0.0.1", ca: Path | None = None,
            mode: str = "verify-full") -> str:
        return (f"postgresql://postgres@{host}:{self.port}/postgres?sslmode={mode}"
                f"&sslrootcert={ca or self.ca}")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_ca(folder: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
             "-subj", f"/CN=TDS test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)


def _certificates(folder: Path) -> None:
    _make_ca(folder, "ca")
    _make_ca(folder, "other-ca")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1",
             cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext",
             cwd=folder)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    # A folder of its own in /tmp: as root the server runs as `postgres`, which must enter it.
    home = Path(tempfile.mkdtemp(prefix="tds-pg-tls-"))
    os.chmod(home, 0o755)  # noqa: S103  # the `postgres` user must enter it
    data = home / "data"
    _certificates(home)
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (home, *home.iterdir()):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    os.chmod(home / "server.key", 0o600)
    _run([_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
          "--no-locale"], "initdb")
    # TLS sessions only: a plaintext attempt finds no pg_hba.conf line.
    (data / "pg_hba.conf").write_text("hostssl all all 127.0.0.0/8 trust\n")
    if os.geteuid() == 0:
        os.chown(data / "pg_hba.conf", owner.pw_uid, owner.pw_gid)
    port = free_port()
    options = (f"-c listen_addresses=127.0.0.1,127.0.0.2 -c port={port} "
               f"-c unix_socket_directories={home} -c ssl=on "
               f"-c ssl_cert_file={home / 'server.crt'} -c ssl_key_file={home / 'server.key'}")
    _run([_bin("pg_ctl"), "-D", str(data), "-l", str(home / "server.log"), "-o", options,
          "-w", "-t", "60", "start"], "pg_ctl start", 70)
    try:
        yield TlsServer(port=port, ca=home / "ca.crt", other_ca=home / "other-ca.crt")
    finally:
        _run([_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], "pg_ctl stop")
        shutil.rmtree(home, ignore_errors=True)


async def _uses_tls(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval(
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))


def _tds(command: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "tds.cli", command], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_tds_migrate_over_verified_tls(tls_server: TlsServer) -> None:
    done = _tds("migrate", tls_server.url())
    assert done.returncode == 0, done.stderr
    assert "applied 0001" in done.stdout
    # The server takes TLS only: the same migration in plaintext is refused by the server.
    plain = _tds("migrate", tls_server.url(mode="disable"))
    assert plain.returncode == 1 and "no encryption" in plain.stderr


async def test_every_pool_and_connection_uses_verified_tls(tls_server: TlsServer) -> None:
    url = tls_server.url()
    await apply(url, MIGRATIONS, schema="tls_check")
    pool = await postgres.create_pool(url, min_size=0, max_size=2)  # api, `tds poll`
    projections = await open_pool(url)  # project, replay, verify, images
    try:
        async with pool.acquire() as conn:
            assert await _uses_tls(conn)
        async with projections.acquire() as conn:
            assert await _uses_tls(conn)
    finally:
        await pool.close()
        await projections.close()
    conn = await postgres.connect(url)
    try:
        assert await _uses_tls(conn)
    finally:
        await conn.close()
    leader = Leadership(url, name="tls", owner="test")
    try:
        assert await leader.ensure()
    finally:
        await leader.close()
    async with PgTokenStore.from_dsn(url).locked("0" * 64) as session:  # Zoho token refresh
        assert session is not None


@pytest.mark.parametrize(("host", "ca", "reason"), [
    ("127.0.0.2", None, "certificate verify failed: IP address mismatch"),
    ("127.0.0.1", "other", "certificate verify failed: unable to get local issuer"),
])
async def test_a_mismatch_is_refused_naming_database_url(
        tls_server: TlsServer, host: str, ca: str | None, reason: str) -> None:
    url = tls_server.url(host=host, ca=tls_server.other_ca if ca else None)
    migrate = _tds("migrate", url)
    assert migrate.returncode == 1
    assert "DATABASE_URL: TLS with PostgreSQL at" in migrate.stderr
    assert reason in migrate.stderr
    with pytest.raises(DatabaseTLSError, match=f"DATABASE_URL: .*{reason}"):
        await postgres.connect(url)
    with pytest.raises(DatabaseTLSError, match=reason):
        await open_pool(url)
    lazy = await postgres.create_pool(url, min_size=0, max_size=1)  # the admin API's pool
    try:
        with pytest.raises(DatabaseTLSError, match=reason):
            await lazy.fetchval("SELECT 1")
    finally:
        await lazy.close()
