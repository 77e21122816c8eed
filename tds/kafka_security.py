"""Kafka TLS and SASL as one value, rendered for librdkafka, aiokafka (faust) and Kafka's
Java console tools, so every client of every process connects the same way."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from tds.secret import Secret

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

# librdkafka properties the named settings own: TDS_KAFKA_CONFIG may not set them too.
OWNED = {
    "bootstrap.servers": "KAFKA_BOOTSTRAP_SERVERS",
    "security.protocol": "KAFKA_SECURITY_PROTOCOL",
    "ssl.ca.location": "KAFKA_SSL_CA_FILE",
    "ssl.certificate.location": "KAFKA_SSL_CERT_FILE",
    "ssl.key.location": "KAFKA_SSL_KEY_FILE",
    "ssl.endpoint.identification.algorithm": "KAFKA_SSL_CHECK_HOSTNAME",
    "sasl.mechanism": "KAFKA_SASL_MECHANISM",
    "sasl.mechanisms": "KAFKA_SASL_MECHANISM",
    "sasl.username": "KAFKA_SASL_USERNAME",
    "sasl.password": "KAFKA_SASL_PASSWORD",
}


def parse_properties(text: str) -> tuple[tuple[str, str], ...]:
    """`key=value` lines of a properties file (`#`/`!` comments); ValueError names the line."""
    pairs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"line {number} is not key=value")
        if key in OWNED:
            raise ValueError(f"line {number} sets {key}: use {OWNED[key]} instead")
        pairs[key] = value.strip()
    return tuple(pairs.items())


@dataclass(frozen=True, slots=True)
class KafkaSecurity:
    """How clients authenticate to Kafka and check its certificate; plaintext by default."""

    protocol: str = "PLAINTEXT"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    check_hostname: bool = True
    sasl_mechanism: str | None = None
    username: str | None = None
    password: Secret = Secret("")  # noqa: RUF009 - immutable, so one shared default is safe
    extra: tuple[tuple[str, str], ...] = ()  # TDS_KAFKA_CONFIG, librdkafka names

    @property
    def tls(self) -> bool:
        """Whether connections are encrypted."""
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        """Whether clients log in with a user name and password."""
        return self.protocol.startswith("SASL_")

    def problems(self) -> list[str]:
        """What does not fit together, each naming the variables to change."""
        found: list[str] = []
        if self.sasl:
            for value, name in ((self.sasl_mechanism, "KAFKA_SASL_MECHANISM"),
                                (self.username, "KAFKA_SASL_USERNAME"),
                                (self.password, "KAFKA_SASL_PASSWORD")):
                if not value:
                    found.append(f"{name} is not set but KAFKA_SECURITY_PROTOCOL={self.protocol} "
                                 "logs in with SASL")
        else:
            for value, name in ((self.sasl_mechanism, "KAFKA_SASL_MECHANISM"),
                                (self.username, "KAFKA_SASL_USERNAME"),
                                (self.password, "KAFKA_SASL_PASSWORD")):
                if value:
                    found.append(f"{name} is set but KAFKA_SECURITY_PROTOCOL={self.protocol} "
                                 "does not use SASL: set SASL_SSL or SASL_PLAINTEXT")
        if not self.tls:
            for path, name in ((self.ca_file, "KAFKA_SSL_CA_FILE"),
                               (self.cert_file, "KAFKA_SSL_CERT_FILE"),
                               (self.key_file, "KAFKA_SSL_KEY_FILE")):
                if path:
                    found.append(f"{name} is set but KAFKA_SECURITY_PROTOCOL={self.protocol} "
                                 "does not use TLS: set SSL or SASL_SSL")
            if not self.check_hostname:
                found.append(f"KAFKA_SSL_CHECK_HOSTNAME=false is set but KAFKA_SECURITY_PROTOCOL="
                             f"{self.protocol} does not use TLS: set SSL or SASL_SSL")
        if bool(self.cert_file) != bool(self.key_file):
            found.append("KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together: "
                         "set both or neither")
        return found

    def librdkafka(self) -> dict[str, str]:
        """confluent-kafka properties of the named settings (`extra` is the caller's)."""
        if self.protocol == "PLAINTEXT":
            return {}
        config = {"security.protocol": self.protocol}
        if self.tls:
            config["ssl.endpoint.identification.algorithm"] = (
                "https" if self.check_hostname else "none")
            if self.ca_file:
                config["ssl.ca.location"] = self.ca_file
            if self.cert_file and self.key_file:
                config["ssl.certificate.location"] = self.cert_file
                config["ssl.key.location"] = self.key_file
        if self.sasl:
            config["sasl.mechanism"] = self.sasl_mechanism or ""
            config["sasl.username"] = self.username or ""
            config["sasl.password"] = self.password.reveal()
        return config

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of Python clients (aiokafka under faust); None without TLS."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        context.check_hostname = self.check_hostname
        if self.cert_file and self.key_file:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def java_properties(self, keystore: Path | None = None) -> str:
        """A client.properties for Kafka's console tools (`--command-config`).

        Java reads a PEM client certificate from one file holding the key and the chain:
        `keystore` names where it was written (see `write_java_keystore`).
        """
        lines = [f"security.protocol={self.protocol}"]
        if self.tls:
            if self.ca_file:
                lines += ["ssl.truststore.type=PEM", f"ssl.truststore.location={self.ca_file}"]
            lines.append("ssl.endpoint.identification.algorithm="
                         + ("https" if self.check_hostname else ""))
            if keystore is not None:
                lines += ["ssl.keystore.type=PEM", f"ssl.keystore.location={keystore}"]
        if self.sasl:
            module = ("org.apache.kafka.common.security.plain.PlainLoginModule"
                      if self.sasl_mechanism == "PLAIN"
                      else "org.apache.kafka.common.security.scram.ScramLoginModule")
            lines += [f"sasl.mechanism={self.sasl_mechanism}",
                      # A properties file reads backslashes as escapes: double them.
                      (f"sasl.jaas.config={module} required username={_jaas(self.username)} "
                       f"password={_jaas(self.password.reveal())};").replace("\\", "\\\\")]
        return "\n".join(lines) + "\n"

    def write_java_keystore(self, path: Path) -> Path | None:
        """The client key and certificate in one PEM file (Java's layout); None without."""
        if not (self.tls and self.cert_file and self.key_file):
            return None
        path.write_text(Path(self.key_file).read_text() + Path(self.cert_file).read_text())
        path.chmod(0o600)
        return path


def _jaas(value: str | None) -> str:
    """A JAAS option value, quoted."""
    escaped = (value or "").replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
