"""Service checks against real servers on loopback: HTTPS (aiohttp), SMTP (aiosmtpd), DNS
(dnsmasq), a silent port and a closed one. Every test asserts the status and the reason."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Sink
from cryptography import x509

from netwatch import __version__
from netwatch.models import (
    DnsSpec,
    FailureKind,
    HttpSpec,
    Sample,
    Secret,
    ServiceCheck,
    TcpSpec,
)
from netwatch.probes.service import ServiceData, ServiceProber, cert_expires_soon
from tests.servers import (
    AUTH_PASSWORD,
    AUTH_USER,
    LOOPBACK,
    Certs,
    Dnsmasq,
    Seen,
    closed_port,
    dnsmasq,
    free_port,
    make_certs,
    self_signed_context,
    server_context,
    silent_port,
    web_server,
)

SLACK = 0.4  # seconds a timed-out check may overrun its deadline (loop scheduling, cleanup)


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path)


@pytest.fixture
async def prober() -> AsyncIterator[ServiceProber]:
    prober = ServiceProber(ServiceProber.make_session())
    yield prober
    await prober.close()


def service(spec: HttpSpec | TcpSpec | DnsSpec, timeout: float = 3.0) -> ServiceCheck:
    return ServiceCheck("portal", spec, interval=30.0, timeout=timeout)


def not_after(leaf_pem: bytes) -> float:
    return x509.load_pem_x509_certificate(leaf_pem).not_valid_after_utc.timestamp()


def failure_of(sample: Sample[ServiceData]) -> tuple[FailureKind, str]:
    assert sample.failure is not None, f"expected a failure, got {sample}"
    return sample.failure.kind, sample.failure.detail


def data_of(sample: Sample[ServiceData]) -> ServiceData:
    assert sample.data is not None
    return sample.data


# --------------------------------------------------------------------------- HTTPS and certificates


async def test_valid_certificate_is_ok_and_reports_its_expiry(
    prober: ServiceProber, certs: Certs
) -> None:
    """A trusted certificate: up, status 200, cert info with the certificate's real notAfter."""
    leaf = certs.leaf(days=90)
    async with web_server(server_context(leaf)) as base:
        check = service(HttpSpec(base + "/", ca_file=str(certs.ca_file)))
        sample = await prober.check("eoffice", check)
    assert sample.ok, sample.failure
    assert (sample.device, sample.check) == ("eoffice", "service:portal")
    data = data_of(sample)
    assert data.status_code == 200
    assert data.cert is not None
    assert data.cert.not_after == pytest.approx(not_after(leaf.cert_chain_pems[0].bytes()), abs=1)
    assert "Sở TTTT test CA" in data.cert.issuer
    assert data.cert.names == (LOOPBACK,)
    assert not cert_expires_soon(data, check, time.time())


async def test_certificate_expiring_in_three_days_is_up_but_expires_soon(
    prober: ServiceProber, certs: Certs
) -> None:
    """A cert with 3 days left: the app works (ok), and cert_expires_soon warns."""
    async with web_server(server_context(certs.leaf(days=3))) as base:
        check = service(HttpSpec(base + "/", ca_file=str(certs.ca_file)))
        sample = await prober.check("eoffice", check)
    assert sample.ok, sample.failure
    data = data_of(sample)
    assert data.cert is not None
    assert data.cert.not_after - time.time() == pytest.approx(3 * 86400, abs=120)
    assert cert_expires_soon(data, check, time.time())


async def test_expired_certificate_fails_tls_and_still_reports_its_expiry(
    prober: ServiceProber, certs: Certs
) -> None:
    """An expired cert: TLS failure "certificate has expired"; its notAfter is still reported."""
    leaf = certs.leaf(days=-1, not_before_days=-30)
    async with web_server(server_context(leaf)) as base:
        check = service(HttpSpec(base + "/", ca_file=str(certs.ca_file)))
        sample = await prober.check("eoffice", check)
    assert failure_of(sample) == (
        FailureKind.TLS,
        "certificate verify failed: certificate has expired",
    )
    cert = data_of(sample).cert
    assert cert is not None
    assert cert.not_after < time.time()


async def test_self_signed_certificate_fails_tls(
    prober: ServiceProber, certs: Certs, tmp_path: Path
) -> None:
    """A self-signed cert with verification on: TLS failure naming the reason."""
    async with web_server(self_signed_context(tmp_path)) as base:
        sample = await prober.check("eoffice", service(HttpSpec(base + "/")))
    assert failure_of(sample) == (
        FailureKind.TLS,
        "certificate verify failed: self-signed certificate",
    )
    cert = data_of(sample).cert
    assert cert is not None
    assert cert.subject == "CN=self-signed portal"


async def test_self_signed_certificate_is_ok_without_verification(
    prober: ServiceProber, tmp_path: Path
) -> None:
    """verify_tls false: a self-signed cert is accepted, and its expiry is still read."""
    async with web_server(self_signed_context(tmp_path)) as base:
        sample = await prober.check("eoffice", service(HttpSpec(base + "/", verify_tls=False)))
    assert sample.ok, sample.failure
    cert = data_of(sample).cert
    assert cert is not None
    assert cert.issuer == cert.subject == "CN=self-signed portal"
    assert cert.not_after - time.time() == pytest.approx(30 * 86400, abs=120)


async def test_certificate_for_another_name_fails_with_hostname_mismatch(
    prober: ServiceProber, certs: Certs
) -> None:
    """A cert for portal.example served at 127.0.0.1: TLS failure naming both names."""
    async with web_server(server_context(certs.leaf("portal.example"))) as base:
        check = service(HttpSpec(base + "/", ca_file=str(certs.ca_file)))
        sample = await prober.check("eoffice", check)
    assert failure_of(sample) == (
        FailureKind.TLS,
        "hostname mismatch: certificate is not valid for '127.0.0.1'; it is for portal.example",
    )


async def test_concurrent_checks_each_get_their_own_certificate(
    prober: ServiceProber, certs: Certs
) -> None:
    """Checks running at once over the shared session each report their own server's cert."""
    short, long = certs.leaf(days=5), certs.leaf(days=200)
    async with (
        web_server(server_context(short)) as short_base,
        web_server(server_context(long)) as long_base,
    ):
        ca = str(certs.ca_file)
        checks = [service(HttpSpec(b + "/", ca_file=ca)) for b in (short_base, long_base) * 4]
        samples = await asyncio.gather(*(prober.check("eoffice", c) for c in checks))
    expected = [not_after(leaf.cert_chain_pems[0].bytes()) for leaf in (short, long) * 4]
    got = [data_of(s).cert for s in samples]
    assert all(s.ok for s in samples), [s.failure for s in samples]
    assert [c.not_after if c else None for c in got] == pytest.approx(expected, abs=1)


# --------------------------------------------------------------------------- HTTP behaviour


async def test_slow_response_times_out_within_the_deadline(prober: ServiceProber) -> None:
    """A server slower than the timeout: TIMEOUT naming the phase, returned on time."""
    async with web_server(None) as base:
        started = time.monotonic()
        sample = await prober.check("eoffice", service(HttpSpec(base + "/slow"), timeout=0.5))
        elapsed = time.monotonic() - started
    assert failure_of(sample) == (
        FailureKind.TIMEOUT,
        f"no answer within 0.5s while waiting for the response headers of {base}/slow",
    )
    assert 0.5 <= elapsed < 0.5 + SLACK
    assert sample.duration < 0.5 + SLACK


async def test_redirect_loop_is_a_clear_failure(prober: ServiceProber) -> None:
    """A redirect loop: PROTOCOL failure saying so and where it went."""
    async with web_server(None) as base:
        sample = await prober.check("eoffice", service(HttpSpec(base + "/loop")))
    assert failure_of(sample) == (
        FailureKind.PROTOCOL,
        "gave up after 10 redirects (a redirect loop?); the last went to /loop",
    )


async def test_status_503_is_a_mismatch_naming_the_status(prober: ServiceProber) -> None:
    """503 with the default expectation: MISMATCH "status 503, expected 200-399"."""
    async with web_server(None) as base:
        sample = await prober.check("eoffice", service(HttpSpec(base + "/unavailable")))
    assert failure_of(sample) == (FailureKind.MISMATCH, "status 503, expected 200-399")
    assert data_of(sample).status_code == 503


async def test_body_without_the_expected_text_is_a_mismatch(prober: ServiceProber) -> None:
    """A page without the expected Vietnamese text: MISMATCH quoting the text."""
    async with web_server(None) as base:
        sample = await prober.check(
            "eoffice", service(HttpSpec(base + "/", body_contains="Đăng xuất"))
        )
    assert failure_of(sample) == (FailureKind.MISMATCH, "body does not contain 'Đăng xuất'")


async def test_body_substring_and_regex_matches_are_ok(prober: ServiceProber) -> None:
    """body_contains and body_regex that match (non-ASCII text included): ok."""
    async with web_server(None) as base:
        contains = await prober.check(
            "eoffice", service(HttpSpec(base + "/", body_contains="Đăng nhập"))
        )
        regex = await prober.check(
            "eoffice", service(HttpSpec(base + "/", body_regex=r"phiên bản \d+\.\d+\.\d+"))
        )
        no_match = await prober.check(
            "eoffice", service(HttpSpec(base + "/", body_regex=r"phiên bản 3\."))
        )
    assert contains.ok, contains.failure
    assert regex.ok, regex.failure
    assert failure_of(no_match) == (
        FailureKind.MISMATCH,
        "body does not match the regex 'phiên bản 3\\\\.'",
    )


async def test_expect_status_lists_and_ranges(prober: ServiceProber) -> None:
    """expect_status as several ranges/single codes: 503 accepted when listed; 200 refused."""
    async with web_server(None) as base:
        listed = await prober.check(
            "eoffice",
            service(HttpSpec(base + "/unavailable", expect_status=((200, 200), (503, 503)))),
        )
        ranged = await prober.check(
            "eoffice", service(HttpSpec(base + "/unavailable", expect_status=((500, 599),)))
        )
        refused = await prober.check(
            "eoffice", service(HttpSpec(base + "/", expect_status=((201, 204), (301, 301))))
        )
    assert listed.ok, listed.failure
    assert ranged.ok, ranged.failure
    assert failure_of(refused) == (FailureKind.MISMATCH, "status 200, expected 201-204, 301")


async def test_redirect_not_followed_reports_302(prober: ServiceProber) -> None:
    """follow_redirects false: the 302 itself is the answer; true: the target's 200."""
    async with web_server(None) as base:
        kept = await prober.check(
            "eoffice", service(HttpSpec(base + "/moved", follow_redirects=False))
        )
        followed = await prober.check("eoffice", service(HttpSpec(base + "/moved")))
        strict = await prober.check(
            "eoffice",
            service(HttpSpec(base + "/moved", follow_redirects=False, expect_status=((200, 200),))),
        )
    assert kept.ok, kept.failure
    assert data_of(kept).status_code == 302
    assert followed.ok
    assert data_of(followed).status_code == 200
    assert failure_of(strict) == (FailureKind.MISMATCH, "status 302, expected 200")


async def test_basic_auth_and_the_secret_never_shows(prober: ServiceProber) -> None:
    """401 without credentials, ok with them; the password is in no failure text or repr."""
    wrong = Secret("env:PORTAL_PASSWORD", "sai-" + AUTH_PASSWORD)
    right = Secret("env:PORTAL_PASSWORD", AUTH_PASSWORD)
    async with web_server(None) as base:
        anonymous = await prober.check("eoffice", service(HttpSpec(base + "/auth")))
        bad = await prober.check(
            "eoffice",
            service(HttpSpec(base + "/auth", basic_auth_user=AUTH_USER, basic_auth_password=wrong)),
        )
        good = await prober.check(
            "eoffice",
            service(HttpSpec(base + "/auth", basic_auth_user=AUTH_USER, basic_auth_password=right)),
        )
    assert failure_of(anonymous) == (FailureKind.MISMATCH, "status 401, expected 200-399")
    assert failure_of(bad) == (FailureKind.MISMATCH, "status 401, expected 200-399")
    assert good.ok, good.failure
    for sample in (anonymous, bad, good):
        assert AUTH_PASSWORD not in str(sample.failure)
        assert AUTH_PASSWORD not in repr(sample)


async def test_custom_headers_and_user_agent_reach_the_server(prober: ServiceProber) -> None:
    """Configured headers are sent, with netwatch's User-Agent."""
    seen = Seen()
    async with web_server(None, seen) as base:
        spec = HttpSpec(base + "/", headers=(("X-Don-Vi", "ninh-kieu"), ("Accept-Language", "vi")))
        sample = await prober.check("eoffice", service(spec))
    assert sample.ok, sample.failure
    assert seen.headers[-1]["X-Don-Vi"] == "ninh-kieu"
    assert seen.headers[-1]["Accept-Language"] == "vi"
    assert seen.headers[-1]["User-Agent"] == f"netwatch/{__version__}"


async def test_time_to_first_byte_is_within_the_total(prober: ServiceProber) -> None:
    """0 < TTFB <= total time == sample duration; plain HTTP has no certificate."""
    async with web_server(None) as base:
        sample = await prober.check("eoffice", service(HttpSpec(base + "/")))
    data = data_of(sample)
    assert sample.ok, sample.failure
    assert data.ttfb is not None
    assert 0 < data.ttfb <= data.duration == sample.duration
    assert data.cert is None


async def test_http_to_a_closed_port_is_refused(prober: ServiceProber) -> None:
    """Nothing listening: REFUSED naming the address."""
    with closed_port() as port:
        sample = await prober.check("eoffice", service(HttpSpec(f"http://{LOOPBACK}:{port}/")))
    assert failure_of(sample) == (
        FailureKind.REFUSED,
        f"{LOOPBACK}:{port} refused the connection; is the service up?",
    )


# --------------------------------------------------------------------------- TCP, TLS, SMTP


@pytest.fixture
def smtp(certs: Certs) -> Iterator[int]:
    """aiosmtpd on 127.0.0.1 offering STARTTLS with a certificate from the test CA."""
    port = free_port()
    controller = Controller(
        Sink(),
        hostname=LOOPBACK,
        port=port,
        server_hostname="mail.test",  # no getfqdn(): nothing is resolved
        ident="netwatch-test",
        tls_context=server_context(certs.leaf()),
        require_starttls=False,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


async def test_smtp_banner_and_starttls_are_ok_with_cert_info(
    prober: ServiceProber, smtp: int, certs: Certs
) -> None:
    """SMTP 220 banner, EHLO, STARTTLS, handshake: ok, with the certificate read after STARTTLS."""
    spec = TcpSpec(
        LOOPBACK, smtp, expect_banner="220 mail.test", starttls=True, ca_file=str(certs.ca_file)
    )
    sample = await prober.check("mail", service(spec))
    assert sample.ok, sample.failure
    data = data_of(sample)
    assert data.cert is not None
    assert data.cert.names == (LOOPBACK,)
    assert data.ttfb is not None
    assert 0 < data.ttfb <= data.duration


async def test_smtp_starttls_with_an_untrusted_certificate_fails_tls(
    prober: ServiceProber, smtp: int
) -> None:
    """STARTTLS to a cert from a CA we were not told to trust: TLS failure with the reason."""
    sample = await prober.check("mail", service(TcpSpec(LOOPBACK, smtp, starttls=True)))
    assert failure_of(sample) == (
        FailureKind.TLS,
        "certificate verify failed: unable to get local issuer certificate",
    )


async def test_wrong_banner_is_a_mismatch(prober: ServiceProber, smtp: int) -> None:
    """A banner that does not start as expected: MISMATCH quoting both."""
    sample = await prober.check(
        "mail", service(TcpSpec(LOOPBACK, smtp, expect_banner="220 mail.khac"))
    )
    kind, detail = failure_of(sample)
    assert kind is FailureKind.MISMATCH
    assert detail.startswith("banner '220 mail.test ")
    assert detail.endswith(" does not start with '220 mail.khac'")


async def test_tls_from_the_first_byte(prober: ServiceProber, certs: Certs) -> None:
    """tcp with tls: the handshake is checked and the certificate read, without a banner."""
    leaf = certs.leaf(days=45)
    async with web_server(server_context(leaf)) as base:
        port = int(base.rsplit(":", 1)[1])
        sample = await prober.check(
            "eoffice", service(TcpSpec(LOOPBACK, port, tls=True, ca_file=str(certs.ca_file)))
        )
    assert sample.ok, sample.failure
    cert = data_of(sample).cert
    assert cert is not None
    assert cert.not_after == pytest.approx(not_after(leaf.cert_chain_pems[0].bytes()), abs=1)


async def test_silent_port_with_a_banner_expected_times_out(prober: ServiceProber) -> None:
    """A port that accepts and never speaks: TIMEOUT while waiting for the banner."""
    with silent_port() as port:
        plain = await prober.check("mail", service(TcpSpec(LOOPBACK, port), timeout=0.5))
        started = time.monotonic()
        sample = await prober.check(
            "mail", service(TcpSpec(LOOPBACK, port, expect_banner="220"), timeout=0.5)
        )
        elapsed = time.monotonic() - started
    assert plain.ok, plain.failure  # connecting is all that was asked
    assert failure_of(sample) == (
        FailureKind.TIMEOUT,
        f"no answer within 0.5s while waiting for the banner of {LOOPBACK}:{port}",
    )
    assert elapsed < 0.5 + SLACK


async def test_closed_port_is_refused(prober: ServiceProber) -> None:
    """Connecting to a closed port: REFUSED naming the address."""
    with closed_port() as port:
        sample = await prober.check("mail", service(TcpSpec(LOOPBACK, port)))
    assert failure_of(sample) == (
        FailureKind.REFUSED,
        f"{LOOPBACK}:{port} refused the connection; is the service up?",
    )


# --------------------------------------------------------------------------- DNS


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dnsmasq]:
    with dnsmasq(tmp_path_factory.mktemp("dnsmasq")) as server:
        yield server


def dns_check(
    name: str, port: int, expect: str | None = None, timeout: float = 3.0
) -> ServiceCheck:
    return service(DnsSpec(name, LOOPBACK, port, expect_address=expect), timeout=timeout)


@pytest.mark.peer
async def test_dns_name_resolves(prober: ServiceProber, dns_server: Dnsmasq) -> None:
    """portal.test through dnsmasq: ok, with the address it got."""
    sample = await prober.check("dns", dns_check("portal.test", dns_server.port, "127.0.0.9"))
    assert sample.ok, sample.failure
    assert data_of(sample).resolved == ("127.0.0.9",)
    any_family = await prober.check("dns", dns_check("portal.test", dns_server.port))
    assert any_family.ok, any_family.failure


@pytest.mark.peer
async def test_dns_ipv6_expectation_asks_for_aaaa(
    prober: ServiceProber, dns_server: Dnsmasq
) -> None:
    """An expected IPv6 address is checked against the AAAA records."""
    sample = await prober.check("dns", dns_check("v6.test", dns_server.port, "fd00:0::9"))
    assert sample.ok, sample.failure
    assert data_of(sample).resolved == ("fd00::9",)


@pytest.mark.peer
async def test_dns_unexpected_address_is_a_mismatch(
    prober: ServiceProber, dns_server: Dnsmasq
) -> None:
    """portal.test expected at another address: MISMATCH naming both."""
    sample = await prober.check("dns", dns_check("portal.test", dns_server.port, "127.0.0.10"))
    assert failure_of(sample) == (
        FailureKind.MISMATCH,
        "portal.test resolves to 127.0.0.9, expected 127.0.0.10 "
        f"(at server {LOOPBACK}:{dns_server.port})",
    )


@pytest.mark.peer
async def test_dns_missing_name_is_a_dns_failure(
    prober: ServiceProber, dns_server: Dnsmasq
) -> None:
    """nope.test (NXDOMAIN from the test's own server, which forwards nothing): DNS failure."""
    sample = await prober.check("dns", dns_check("nope.test", dns_server.port))
    assert failure_of(sample) == (
        FailureKind.DNS,
        f"name nope.test does not exist at server {LOOPBACK}:{dns_server.port}",
    )


@pytest.mark.peer
async def test_dns_refused_is_a_dns_failure(prober: ServiceProber, dns_server: Dnsmasq) -> None:
    """A name the server will not answer for (REFUSED): DNS failure saying so."""
    sample = await prober.check("dns", dns_check("outside.invalid", dns_server.port))
    kind, detail = failure_of(sample)
    assert kind is FailureKind.DNS
    assert detail.startswith(f"server {LOOPBACK}:{dns_server.port} could not answer for ")
    assert detail.endswith("REFUSED")


async def test_dns_server_that_never_answers_times_out(prober: ServiceProber) -> None:
    """A UDP port that swallows queries: TIMEOUT, on time."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind((LOOPBACK, 0))
        port = sink.getsockname()[1]
        started = time.monotonic()
        sample = await prober.check("dns", dns_check("portal.test", port, timeout=0.5))
        elapsed = time.monotonic() - started
    kind, detail = failure_of(sample)
    assert kind is FailureKind.TIMEOUT
    assert f"{LOOPBACK}:{port}" in detail
    assert "A of portal.test" in detail
    assert elapsed < 0.5 + SLACK


def test_ssl_module_is_the_one_under_test() -> None:
    """Guards the TLS assertions above: OpenSSL's wording for these reasons needs 1.1.1+."""
    assert ssl.OPENSSL_VERSION_INFO >= (1, 1, 1)
