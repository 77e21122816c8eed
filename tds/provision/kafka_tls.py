"""A SASL_SSL listener for the local broker: a throwaway CA and broker certificate made with
openssl, a user known to every SASL mechanism TDS offers (SCRAM users are written into
the KRaft storage with Kafka's own StorageTool at format time)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tds.errors import ProvisionError

USERNAME = "tds"
MECHANISM = "SCRAM-SHA-512"  # what the written settings use; PLAIN and SCRAM-SHA-256 work too
HOST = "localhost"  # the name the certificate carries and the listener advertises
_PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
_SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ProvisionError("openssl is not on PATH: it makes the SASL_SSL listener's "
                             "throwaway certificates")
    result = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True,
                            timeout=60, check=False)
    if result.returncode != 0:
        raise ProvisionError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def make_ca(folder: Path, name: str = "ca") -> Path:
    """A self-signed CA (`<name>.pem`, key `<name>.key`) in `folder`; returns the cert."""
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.pem", "-days", "30", "-subj", f"/CN=TDS throwaway {name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    return folder / f"{name}.pem"


def issue(folder: Path, ca: Path, name: str, host: str = HOST) -> tuple[Path, Path]:
    """A certificate for `host` (and 127.0.0.1) signed by `ca`: (cert, PKCS#8 key)."""
    (folder / f"{name}.ext").write_text(
        f"subjectAltName=DNS:{host},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", "-subj", f"/CN={host}", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", str(ca),
             "-CAkey", str(ca.with_suffix(".key")), "-CAcreateserial", "-days", "30",
             "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=folder)
    return folder / f"{name}.crt", folder / f"{name}.key"


@dataclass(frozen=True, slots=True)
class SecureListener:
    """The SASL_SSL listener's port and files (`folder`: the CA, the broker's key and
    certificate, the user's password)."""

    folder: Path
    port: int

    @property
    def bootstrap(self) -> str:
        """host:port clients use (the certificate names HOST)."""
        return f"{HOST}:{self.port}"

    @property
    def ca_file(self) -> Path:
        """The CA clients trust."""
        return self.folder / "ca.pem"

    @property
    def password_file(self) -> Path:
        """The user's password (for KAFKA_SASL_PASSWORD_FILE)."""
        return self.folder / "password"

    @classmethod
    def create(cls, folder: Path, port: int) -> SecureListener:
        """Fresh certificates and a fresh password in `folder`."""
        shutil.rmtree(folder, ignore_errors=True)
        ca = make_ca(folder)
        cert, key = issue(folder, ca, "broker")
        # Kafka reads a PEM keystore from one file: the key, then the certificate.
        (folder / "broker.pem").write_text(key.read_text() + cert.read_text())
        listener = cls(folder=folder, port=port)
        listener.password_file.write_text(secrets.token_hex(16))
        listener.password_file.chmod(0o600)
        return listener

    def broker_properties(self) -> list[str]:
        """server.properties lines of the listener (beside PLAINTEXT and CONTROLLER)."""
        password = self.password_file.read_text()
        prefix = "listener.name.sasl_ssl"
        return [
            f"{prefix}.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            f"{prefix}.ssl.keystore.type=PEM",
            f"{prefix}.ssl.keystore.location={self.folder / 'broker.pem'}",
            f'{prefix}.plain.sasl.jaas.config={_PLAIN} required user_{USERNAME}="{password}";',
            f"{prefix}.scram-sha-256.sasl.jaas.config={_SCRAM} required;",
            f"{prefix}.scram-sha-512.sasl.jaas.config={_SCRAM} required;",
        ]

    def scram_arguments(self) -> list[str]:
        """StorageTool `format` arguments creating the user for both SCRAM mechanisms."""
        password = self.password_file.read_text()
        return [arg for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512")
                for arg in ("--add-scram", f"{mechanism}=[name={USERNAME},password={password}]")]

    def client_env(self) -> dict[str, str]:
        """The TDS settings of a client of this listener."""
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SSL_CA_FILE": str(self.ca_file), "KAFKA_SASL_MECHANISM": MECHANISM,
                "KAFKA_SASL_USERNAME": USERNAME,
                "KAFKA_SASL_PASSWORD_FILE": str(self.password_file)}
