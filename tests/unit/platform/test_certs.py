"""Admission webhook certificates: a CA, server certificates it signs, and when to renew them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509

from kiln.platform import certs


def test_server_certificate_is_signed_by_the_ca_and_covers_its_hosts() -> None:
    ca = certs.make_ca()
    server = certs.make_server_cert(ca, ["127.0.0.1", "kiln-webhook.kiln-system.svc"])
    cert = x509.load_pem_x509_certificate(server.cert_pem)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    cert.verify_directly_issued_by(ca_cert)
    assert not certs.needs_renewal(server.cert_pem, ["127.0.0.1"])
    assert certs.needs_renewal(server.cert_pem, ["10.0.0.1"])  # a new host needs a new certificate


def test_certificate_close_to_expiry_needs_renewal() -> None:
    long_ago = datetime.now(UTC) - certs.SERVER_VALIDITY + timedelta(days=10)
    old = certs.make_server_cert(certs.make_ca(), ["127.0.0.1"], now=long_ago)
    assert certs.needs_renewal(old.cert_pem, ["127.0.0.1"])
