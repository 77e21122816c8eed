"""The process's Kafka TLS and SASL as faust broker credentials (aiokafka's clients)."""

from __future__ import annotations

import logging

import faust
from faust.types.auth import CredentialsT

from tds.kafka_security import KafkaSecurity

logger = logging.getLogger(__name__)


def broker_credentials(security: KafkaSecurity) -> CredentialsT | None:
    """faust's `broker_credentials` for `security`; None for plaintext."""
    if security.extra:
        # librdkafka names mean nothing to aiokafka: say so rather than drop them silently.
        logger.warning("TDS_KAFKA_CONFIG (%s) applies to the confluent-kafka clients only; "
                       "the faust engine's consumers take the KAFKA_* settings alone",
                       ", ".join(key for key, _ in security.extra))
    context = security.ssl_context()
    if security.sasl:
        return faust.SASLCredentials(username=security.username,
                                     password=security.password.reveal(),
                                     ssl_context=context, mechanism=security.sasl_mechanism)
    if context is not None:
        return faust.SSLCredentials(context)
    return None
