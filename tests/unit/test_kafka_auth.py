"""Kafka connection security: one configuration, the same options for Faust and aiokafka."""

from __future__ import annotations

import ssl
from dataclasses import replace

import faust
import pytest

from ccpulse.config import KafkaSettings, load_settings
from ccpulse.kafka_auth import client_options, faust_credentials
from ccpulse.streams.app import create_app


def test_plaintext_is_the_default_and_needs_no_credentials() -> None:
    kafka = KafkaSettings()
    assert client_options(kafka) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(kafka) is None


def test_sasl_over_tls_gives_both_clients_the_same_settings() -> None:
    kafka = KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                          sasl_username="ccpulse", sasl_password="s3cret")  # fmt: skip
    options = client_options(kafka)
    assert isinstance(options.pop("ssl_context"), ssl.SSLContext)
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ccpulse",
        "sasl_plain_password": "s3cret",
    }
    credentials = faust_credentials(kafka)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.protocol.value, credentials.mechanism.value) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
    )
    assert (credentials.username, credentials.password) == ("ccpulse", "s3cret")
    assert isinstance(credentials.ssl_context, ssl.SSLContext)


def test_tls_without_sasl() -> None:
    kafka = KafkaSettings(security_protocol="SSL")
    options = client_options(kafka)
    assert options["security_protocol"] == "SSL"
    context = options["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert isinstance(faust_credentials(kafka), faust.SSLCredentials)


def test_sasl_without_tls_has_no_ssl_context() -> None:
    kafka = KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password="p")
    assert "ssl_context" not in client_options(kafka)
    assert faust_credentials(kafka).protocol.value == "SASL_PLAINTEXT"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"security_protocol": "TLS"}, "kafka.security_protocol must be one of"),
        ({"security_protocol": "SASL_SSL"}, "kafka.sasl_username is required"),
        ({"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_mechanism": "GSSAPI"},
         "kafka.sasl_mechanism must be one of"),
        ({"security_protocol": "SSL", "ssl_keyfile": "k.pem"}, "kafka.ssl_keyfile needs"),
        ({"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"}, "No such file"),
    ],
)  # fmt: skip
def test_a_wrong_setting_is_refused_with_its_name(changes: dict[str, str], message: str) -> None:
    with pytest.raises((ValueError, OSError), match=message):
        client_options(replace(KafkaSettings(), **changes))


def test_the_worker_app_gets_the_credentials_from_the_environment(tmp_path: object) -> None:
    settings = load_settings(env={
        "CCPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CCPULSE_KAFKA_SASL_USERNAME": "ccpulse",
        "CCPULSE_KAFKA_SASL_PASSWORD": "s3cret",
    })  # fmt: skip
    app, _ = create_app(settings, datadir=str(tmp_path))
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.mechanism.value) == ("ccpulse", "PLAIN")
