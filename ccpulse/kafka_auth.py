"""Kafka connection security (TLS, SASL) from configuration, one definition for every client.

The Faust worker gets it as `broker_credentials`; ccpulse's own aiokafka clients (the topic
admin, the recovery read-back, the event producers) get the same settings as keyword arguments.
"""

from __future__ import annotations

import ssl
from typing import Any

import faust

from ccpulse.config import KafkaSettings

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def check(kafka: KafkaSettings) -> None:
    """Refuse a security setting the clients could only fail on later, with the setting named."""
    if kafka.security_protocol not in PROTOCOLS:
        raise ValueError(
            f"kafka.security_protocol must be one of {', '.join(PROTOCOLS)}, "
            f"got {kafka.security_protocol!r}"
        )
    if kafka.security_protocol.startswith("SASL"):
        if kafka.sasl_mechanism not in MECHANISMS:
            raise ValueError(
                f"kafka.sasl_mechanism must be one of {', '.join(MECHANISMS)}, "
                f"got {kafka.sasl_mechanism!r}"
            )
        if not kafka.sasl_username:
            raise ValueError(f"kafka.sasl_username is required with {kafka.security_protocol}")
    if kafka.ssl_keyfile and not kafka.ssl_certfile:
        raise ValueError("kafka.ssl_keyfile needs kafka.ssl_certfile")


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context for SSL and SASL_SSL: the system CAs or `ssl_cafile`, and a client
    certificate when `ssl_certfile` is set."""
    if kafka.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=kafka.ssl_cafile or None)
    if kafka.ssl_certfile:
        context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile or None)
    return context


def client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments for aiokafka's producer, consumer and admin client."""
    check(kafka)
    options: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    context = ssl_context(kafka)
    if context is not None:
        options["ssl_context"] = context
    if kafka.security_protocol.startswith("SASL"):
        options.update(
            sasl_mechanism=kafka.sasl_mechanism,
            sasl_plain_username=kafka.sasl_username,
            sasl_plain_password=kafka.sasl_password,
        )
    return options


def faust_credentials(kafka: KafkaSettings) -> Any:
    """Faust's `broker_credentials` for the same settings (None for PLAINTEXT)."""
    check(kafka)
    if kafka.security_protocol == "PLAINTEXT":
        return None
    context = ssl_context(kafka)
    if kafka.security_protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=kafka.sasl_username,
        password=kafka.sasl_password,
        ssl_context=context,
        mechanism=kafka.sasl_mechanism,
    )
