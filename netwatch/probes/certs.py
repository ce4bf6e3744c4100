"""TLS for service checks: client contexts, reading the peer certificate, explaining failures.

The certificate is parsed from its DER form with ``cryptography``, because the standard
library only decodes a certificate it has verified; with ``verify_tls: false`` (or after a
verification failure) we still want its expiry, subject and issuer.

>>> describe_cert_error("Hostname mismatch, certificate is not valid for 'a.example'.", ())
"hostname mismatch: certificate is not valid for 'a.example'"
"""

from __future__ import annotations

import asyncio
import ssl
from contextlib import suppress
from typing import Any

from cryptography import x509

from netwatch.probes.service_model import CertInfo

_contexts: dict[tuple[bool, str | None], ssl.SSLContext] = {}


def _make_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    if not verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=ca_file)


async def client_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    """A shared client context per (verify, CA file); built in a thread (it reads CA files).

    Raises ``OSError``/``ssl.SSLError`` when the CA file cannot be read; callers map that.
    """
    key = (verify, ca_file if verify else None)
    ctx = _contexts.get(key)
    if ctx is None:
        ctx = await asyncio.to_thread(_make_context, *key)
        _contexts[key] = ctx
    return ctx


def cert_info_from_der(der: bytes) -> CertInfo:
    """Expiry, subject, issuer and names of a DER certificate."""
    cert = x509.load_der_x509_certificate(der)
    names: list[str] = []
    with suppress(x509.ExtensionNotFound):
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [*san.get_values_for_type(x509.DNSName)]
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return CertInfo(
        not_after=cert.not_valid_after_utc.timestamp(),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        names=tuple(names),
    )


def peer_cert(ssl_object: Any) -> CertInfo | None:
    """The certificate of an established TLS connection (``ssl_object`` may be None)."""
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        return cert_info_from_der(der)
    except ValueError:  # a certificate cryptography cannot parse: no expiry, the check goes on
        return None


async def fetch_unverified_cert(host: str, port: int, server_name: str | None) -> CertInfo | None:
    """Connect again without verification, only to show the operator the rejected certificate.

    Called after a verification failure, inside the check's deadline; any error means "unknown".
    """
    ctx = await client_context(False, None)
    try:
        _, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=server_name)
    except (OSError, ValueError):
        return None
    try:
        return peer_cert(writer.get_extra_info("ssl_object"))
    finally:
        writer.transport.abort()


def describe_cert_error(verify_message: str, names: tuple[str, ...]) -> str:
    """Operator text for a certificate OpenSSL rejected, naming what the cert is for."""
    text = verify_message.strip().rstrip(".")
    low = text.lower()
    if "mismatch" in low:
        # "Hostname mismatch, certificate is not valid for 'x'." / "IP address mismatch, ..."
        text = "hostname mismatch: " + text.split(", ", 1)[-1]
        if names:
            text += f"; it is for {', '.join(names)}"
        return text
    return f"certificate verify failed: {text}"
