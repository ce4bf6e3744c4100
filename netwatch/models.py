"""The shared vocabulary of netwatch: what the config describes and what the probes report.

Everything here is a frozen dataclass or an enum, made by ``config.py`` (settings, sites,
devices) or by a probe (samples). No module downstream of the config sees a raw YAML dict.

>>> Failure(FailureKind.TIMEOUT, "no reply in 1s").kind.value
'timeout'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Literal, TypeVar

# --------------------------------------------------------------------------- enums


class Role(StrEnum):
    ROUTER = "router"
    SWITCH = "switch"
    FIREWALL = "firewall"
    SERVER = "server"
    WORKSTATION = "workstation"
    UPS = "ups"  # a site's UPS: its power state explains the site's outages
    OTHER = "other"


class Status(StrEnum):
    """A device's or site's status as users see it."""

    UP = "up"
    DOWN = "down"  # its own failure
    UNREACHABLE = "unreachable"  # something it depends on is down
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"  # not polled yet, or the agent was not running


class FailureKind(StrEnum):
    """Why a poll failed: a closed set, so metrics and alerts can count it."""

    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"  # host/network unreachable reported by the network
    REFUSED = "refused"  # connection refused / port closed
    AUTH = "auth"  # wrong community, user, password
    PROTOCOL = "protocol"  # garbage, truncated or unexpected reply
    DNS = "dns"  # a name did not resolve
    TLS = "tls"  # handshake or certificate failure
    MISMATCH = "mismatch"  # answered, but not what was expected (status, body, banner)
    NO_SUCH_NAME = "no_such_name"  # SNMP: the object does not exist on the device
    PERMISSION = "permission"  # this machine does not let us send (e.g. no ICMP permission)
    ERROR = "error"  # anything else; the detail says what


class CheckKind(StrEnum):
    """Which probe runs a check (``polling.Probes`` maps each kind to its probe). The values
    are the config's words and the metrics' ``check``/``kind`` label values."""

    ICMP = "icmp"
    SNMP = "snmp"
    HTTP = "http"
    TCP = "tcp"
    DNS = "dns"


# --------------------------------------------------------------------------- secrets


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret read from the environment or a file. It never prints its value.

    >>> s = Secret("env:SNMP_COMMUNITY", "public")
    >>> str(s), s.reveal()
    ('<secret from env:SNMP_COMMUNITY>', 'public')
    """

    source: str
    value: str = field(repr=False, compare=True)

    def reveal(self) -> str:
        return self.value

    def __str__(self) -> str:
        return f"<secret from {self.source}>"


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class IcmpSettings:
    """How a device is pinged: ``count`` echoes ``spacing`` apart every ``interval`` seconds."""

    interval: float = 30.0
    count: int = 3
    timeout: float = 1.0
    spacing: float = 0.2


# Seconds between the ticks of the ICMP prober's timer wheel (probes.icmp_socket): ten wake-ups
# a second at most. Request i of a ping goes out on the tick nearest ``first + i * spacing`` (and
# on a later tick than request i-1), so within ICMP_GRID / 2 of its due time; a ping that lost a
# reply ends on the first tick at or after its last request's timeout, never sooner. Hence the
# bound in :func:`longest_ping`, which the config checks every ICMP interval against. The
# timeout, not the wake-ups, is why this is not coarser: the scheduler starts pings on a grid of
# twice this, and an answered ping never needs a tick of its own.
ICMP_GRID = 0.1


def longest_ping(count: int, spacing: float, timeout: float) -> float:
    """The longest a ping of ``count`` requests can take: its last request goes out at most
    ``(count - 1) * max(spacing, ICMP_GRID) + ICMP_GRID / 2`` after the first (one tick apart at
    least, each within half a tick of its due time), and it ends on the first tick at or after
    that request's timeout; half a tick more for an event loop that runs late. The config check and
    the tests hold the prober to this bound.

    >>> round(longest_ping(3, 0.2, 1.0), 6)  # the defaults
    1.6
    """
    if count <= 0:
        return 0.0
    return (count - 1) * max(spacing, ICMP_GRID) + timeout + 2 * ICMP_GRID


@dataclass(frozen=True, slots=True)
class InterfaceFilter:
    """Which interfaces get series: names matching ``include`` and not ``exclude``."""

    include: tuple[str, ...] = ()  # regexes; empty means all
    exclude: tuple[str, ...] = ()
    admin_up_only: bool = False


SnmpVersion = Literal["1", "2c", "3"]
AuthProtocol = Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivProtocol = Literal["des", "aes", "aes192", "aes256", "aes192c", "aes256c"]
SNMP_OID_SETS = ("system", "interfaces", "host", "health")


@dataclass(frozen=True, slots=True)
class SnmpSettings:
    interval: float = 60.0
    timeout: float = 2.0
    retries: int = 1
    version: SnmpVersion = "2c"
    port: int = 161
    community: Secret | None = None
    user: str | None = None
    auth_protocol: AuthProtocol | None = None
    auth_password: Secret | None = None
    priv_protocol: PrivProtocol | None = None
    priv_password: Secret | None = None
    context: str = ""
    max_repetitions: int = 25
    collect: tuple[str, ...] = SNMP_OID_SETS
    interfaces: InterfaceFilter = InterfaceFilter()


@dataclass(frozen=True, slots=True)
class HttpSpec:
    url: str
    method: str = "GET"
    expect_status: tuple[tuple[int, int], ...] = ((200, 399),)  # inclusive ranges
    body_contains: str | None = None
    body_regex: str | None = None
    follow_redirects: bool = True
    headers: tuple[tuple[str, str], ...] = ()
    basic_auth_user: str | None = None
    basic_auth_password: Secret | None = None
    verify_tls: bool = True
    ca_file: str | None = None


@dataclass(frozen=True, slots=True)
class TcpSpec:
    host: str
    port: int
    expect_banner: str | None = None
    tls: bool = False  # TLS from the first byte (e.g. 465, 993)
    starttls: bool = False  # SMTP STARTTLS after the banner
    verify_tls: bool = True  # for tls/starttls: check the chain and that the cert is for host
    ca_file: str | None = None  # e.g. the province's internal CA, instead of the system store


@dataclass(frozen=True, slots=True)
class DnsSpec:
    name: str
    server: str
    port: int = 53
    expect_address: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceCheck:
    """One application check on a device; exactly one of the specs is set."""

    name: str
    spec: HttpSpec | TcpSpec | DnsSpec
    interval: float = 60.0
    timeout: float = 10.0
    cert_warn_days: int = 14

    @property
    def kind(self) -> CheckKind:
        return _SERVICE_KINDS[type(self.spec)]


_SERVICE_KINDS = {HttpSpec: CheckKind.HTTP, TcpSpec: CheckKind.TCP, DnsSpec: CheckKind.DNS}


# --------------------------------------------------------------------------- inventory


UP_CHECKS: tuple[str, ...] = ("icmp", "snmp")  # the checks that may decide a device is up


@dataclass(frozen=True, slots=True)
class Device:
    """A polled device with its fully resolved settings (defaults already inherited)."""

    id: str
    address: str
    role: Role
    site: str
    name: str = ""
    icmp: IcmpSettings | None = IcmpSettings()
    snmp: SnmpSettings | None = None
    services: tuple[ServiceCheck, ...] = ()
    depends_on: tuple[str, ...] = ()  # resolved: explicit depends_on, else the gateway chain
    down_after: int = 3
    up_after: int = 2
    retry_interval: float = 10.0
    # The checks that decide "up": the device is up while any of these of its checks is up.
    up_checks: tuple[str, ...] = UP_CHECKS


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One scheduled check of one device: what a probe's ``poll`` is given (``polling.Probe``).
    ``kind`` picks the probe; a kind that is not a :class:`CheckKind` cannot be built.

    >>> CheckSpec(Device("r1", "127.0.0.1", Role.ROUTER, "xa"), "icmp", CheckKind.ICMP, 30.0).key
    'r1/icmp'
    """

    device: Device
    name: str
    kind: CheckKind
    interval: float
    service: ServiceCheck | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, CheckKind):  # a plain "icmp" would dispatch too: refuse it
            raise TypeError(f"check {self.key}: kind {self.kind!r} is not a CheckKind")

    @property
    def key(self) -> str:
        return f"{self.device.id}/{self.name}"


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    name: str
    level: str
    parent: str | None
    contacts: tuple[str, ...]  # resolved: own contacts, else the nearest ancestor's
    gateway: str | None  # device id of this site's link to its parent
    devices: tuple[str, ...]
    children: tuple[str, ...]
    # The ids of the units merged into this site (e.g. communes after the 2025 reform; its own id
    # if it kept one's): their history counts as this site's before merged_at (epoch seconds),
    # its own after.
    formerly: tuple[str, ...] = ()
    merged_at: float | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    email: tuple[str, ...] = ()
    telegram_chat_id: str | None = None
    webhook_url: str | None = None
    webhook_secret: Secret | None = None
    alertmanager: bool = False


LogFormat = Literal["auto", "text", "plain", "json"]
# The agent's time zone unless agent.timezone says otherwise: wall-clock times an operator
# writes (maintenance windows, the digest hour, report days) are local to it.
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"


@dataclass(frozen=True, slots=True)
class AgentSettings:
    listen: str = "0.0.0.0:9430"
    data_dir: str = "/var/lib/netwatch"
    language: Literal["vi", "en"] = "vi"
    hierarchy: tuple[str, ...] = ("province", "district", "commune")
    timezone: str = DEFAULT_TIMEZONE
    api_token: Secret | None = None
    log_format: LogFormat = "auto"
    log_level: str = "info"
    max_in_flight: int = 512  # polls running at once, all kinds together
    snmp_workers: int | None = None  # processes that run SNMP polls; None: auto (see polling)
    profiles: str | None = None  # a YAML file of device profiles added to the built-in ones
    # The status page and API: optional basic auth for reading, optional TLS (PEM files).
    web_user: str | None = None
    web_password: Secret | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    # Slow and idle HTTP clients (web.guard): open connections at most, and how long a request
    # header may take to arrive (from the connection's start or its previous response).
    web_max_connections: int = 512
    web_header_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class TrapSettings:
    """The ``traps`` section: where SNMP traps and informs are received, which communities
    (SNMPv1/v2c) and SNMPv3 users are accepted (see ``netwatch.traps``)."""

    listen: str = "0.0.0.0:162"
    communities: tuple[Secret, ...] = ()
    users: tuple[TrapUser, ...] = ()


@dataclass(frozen=True, slots=True)
class TrapUser:
    """An SNMPv3 user whose traps and informs are accepted (``traps.users``)."""

    name: str
    auth_protocol: str | None = None
    auth_password: Secret | None = None
    priv_protocol: str | None = None
    priv_password: Secret | None = None


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True, slots=True)
class Failure:
    kind: FailureKind
    detail: str  # for operators; names what to check; never holds a secret

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.detail}"


D = TypeVar("D", covariant=True)


@dataclass(frozen=True, slots=True)
class Sample(Generic[D]):
    """The outcome of one poll of one check. A network failure is data, not an exception.

    ``check`` is ``"icmp"``, ``"snmp"`` or ``"service:<name>"``; ``at`` is the wall-clock time
    the poll started (epoch seconds); ``data`` is the probe's own measurements, possibly partial
    even when the poll failed.
    """

    device: str
    check: str
    at: float
    duration: float
    failure: Failure | None = None
    data: D | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True, slots=True)
class IcmpStats:
    """Echo replies of one ICMP round. RTTs in seconds, in the order the requests were sent."""

    sent: int
    rtts: tuple[float, ...]

    @property
    def received(self) -> int:
        return len(self.rtts)

    @property
    def loss(self) -> float:
        return 1.0 - self.received / self.sent if self.sent else 1.0

    @property
    def rtt_min(self) -> float:
        return min(self.rtts) if self.rtts else math.nan

    @property
    def rtt_avg(self) -> float:
        return sum(self.rtts) / len(self.rtts) if self.rtts else math.nan

    @property
    def rtt_max(self) -> float:
        return max(self.rtts) if self.rtts else math.nan

    @property
    def jitter(self) -> float:
        """Mean absolute difference of consecutive RTTs (0 with fewer than two replies)."""
        if len(self.rtts) < 2:
            return 0.0
        diffs = [abs(b - a) for a, b in zip(self.rtts, self.rtts[1:], strict=False)]
        return sum(diffs) / len(diffs)


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of status of a device or site, with its root cause when it is not its own; or
    of a service check (kind ``service``, subject ``device:service``: the applications'
    availability for the reports); or of a site's power (kind ``power``, subject the site id:
    DOWN while its UPS runs on battery, UP on mains)."""

    subject: str  # device or site id, or "device:service"
    kind: Literal["device", "site", "service", "power"]
    old: Status
    new: Status
    at: float
    cause: str | None = None  # root-cause device id for UNREACHABLE


def service_subject(device_id: str, service: str) -> str:
    """The history's subject id of a device's service check.

    >>> service_subject("dc-web", "cổng dịch vụ công")
    'dc-web:cổng dịch vụ công'
    """
    return f"{device_id}:{service}"
