"""A device's ``services``: HTTP, TCP and DNS checks, in their long and short forms.

Long form: the kind holds a mapping, ``{http: {url: ..., expect_status: 200}, interval: 5m}``.
Short form: the kind holds its main value and its other keys sit beside it,
``{http: "https://eoffice.example.gov.vn/", expect_status: 200}`` (the main value is the URL
for http, the port or ``host:port`` for tcp, the name to resolve for dns).

>>> from netwatch.configuration.source import Problems, Secrets
>>> import yaml
>>> node = yaml.compose('[{http: "https://a.example/", expect_status: 200-299}]')
>>> check = Checker("x.yaml", Problems(), Secrets({}))
>>> [s.name for s in parse_services(check, node, "services", "10.0.0.1", Stacked.root())]
['http-a.example']
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from netwatch.models import DnsSpec, HttpSpec, ServiceCheck, TcpSpec

from .readers import INVALID, Ranked, read_fields
from .settings import SERVICE_READERS, Stacked, check_regex, most_specific
from .source import INT, Checker, index, join
from .values import (
    check_address,
    check_url,
    format_duration,
    parse_listen,
    parse_status_range,
    url_host,
)

KINDS = ("http", "tcp", "dns")
_COMMON = ("name", "interval", "timeout", "cert_warn_days")
_SPEC_KEYS: dict[str, tuple[str, ...]] = {
    "http": (
        "url",
        "method",
        "expect_status",
        "body_contains",
        "body_regex",
        "follow_redirects",
        "headers",
        "basic_auth",
        "verify_tls",
        "ca_file",
    ),
    "tcp": ("host", "port", "expect_banner", "tls", "starttls", "verify_tls", "ca_file"),
    "dns": ("name", "server", "port", "expect_address"),
}
# The key a short form's value stands for.
_MAIN = {"http": "url", "tcp": "port", "dns": "name"}
_ALL_KEYS = tuple(
    dict.fromkeys((*_COMMON, *KINDS, *(k for keys in _SPEC_KEYS.values() for k in keys)))
)
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def parse_services(
    check: Checker, node: Node, path: str, address: str, eff: Stacked
) -> tuple[ServiceCheck, ...]:
    """The checks of one device; names default to kind + host and must be unique."""
    services: list[ServiceCheck] = []
    first_at: dict[str, Node] = {}
    for i, item in enumerate(check.sequence(node, path) or []):
        item_path = index(path, i)
        service = _parse_service(check, item, item_path, address, eff)
        if service is None:
            continue
        if service.name in first_at:
            line = first_at[service.name].start_mark.line + 1
            check.report(
                item,
                item_path,
                f"service name '{service.name}' is used twice on this device (first at line "
                f"{line}); give each check its own 'name'",
            )
            continue
        first_at[service.name] = item
        services.append(service)
    return tuple(services)


Entry = tuple[Node, str]  # a value and its YAML path


def _parse_service(
    check: Checker, node: Node, path: str, address: str, eff: Stacked
) -> ServiceCheck | None:
    entries = check.mapping(node, path, _ALL_KEYS)
    if entries is None:
        return None
    kinds = [kind for kind in KINDS if kind in entries]
    if not kinds:
        check.report(node, path, "a service needs one of: http, tcp, dns")
        return None
    if len(kinds) > 1:
        found = " and ".join(kinds)
        check.report(node, path, f"a service checks one thing; found {found}: split it in two")
        return None
    spec_entries = _spec_entries(check, entries, path, kinds[0])
    if spec_entries is None:
        return None
    spec = _SPEC_BUILDERS[kinds[0]](check, spec_entries, address)
    if spec is None:
        return None
    return _service(check, node, entries, path, spec, eff)


def _spec_entries(
    check: Checker, entries: dict[str, Node], path: str, kind: str
) -> dict[str, Entry] | None:
    """The keys of the spec, from the long form's mapping or from beside the short form."""
    kind_node = entries[kind]
    kind_path = join(path, kind)
    spec_keys = _SPEC_KEYS[kind]
    beside = [key for key in entries if key not in (*_COMMON, kind)]
    if isinstance(kind_node, MappingNode):
        for key in beside:
            check.report(entries[key], join(path, key), f"put '{key}' inside '{kind}:'")
        inner = check.mapping(kind_node, kind_path, spec_keys, required=(_MAIN[kind],))
        if inner is None or _MAIN[kind] not in inner:
            return None
        return {key: (node, join(kind_path, key)) for key, node in inner.items()}
    # In the short form `name` beside `dns:` is the service's name, not the name to resolve.
    spec = {key: (entries[key], join(path, key)) for key in beside if key in spec_keys}
    for key in beside:
        if key not in spec or key == _MAIN[kind]:
            check.report(entries[key], join(path, key), f"'{key}' does not apply to a {kind} check")
    spec[_MAIN[kind]] = (kind_node, kind_path)
    return spec


def _service(
    check: Checker,
    node: Node,
    entries: Mapping[str, Node],
    path: str,
    spec: HttpSpec | TcpSpec | DnsSpec,
    eff: Stacked,
) -> ServiceCheck:
    # Interval, timeout and warning days come from the service itself, else inherited.
    fields: dict[str, Ranked] = {
        key: eff.values[source]
        for key, source in _INHERITED.items()
        if eff.value(source, INVALID) is not INVALID
    }
    for key, (value, loc) in read_fields(check, entries, path, SERVICE_READERS).items():
        fields[key] = (value, loc, eff.depth + 1)
    name = _default_name(spec)
    if "name" in entries:
        name = check.text(entries["name"], join(path, "name")) or name
    service = ServiceCheck(name=name, spec=spec, **{k: v for k, (v, _, _) in fields.items()})
    if service.interval < service.timeout:
        check.problems.add(
            most_specific(fields, "interval", "timeout") or check.loc(node, path),
            f"service interval {format_duration(service.interval)} is shorter than its "
            f"timeout {format_duration(service.timeout)}",
        )
    return service


_INHERITED = {
    "interval": "service_interval",
    "timeout": "service_timeout",
    "cert_warn_days": "cert_warn_days",
}


def _default_name(spec: HttpSpec | TcpSpec | DnsSpec) -> str:
    if isinstance(spec, HttpSpec):
        return f"http-{url_host(spec.url)}"
    if isinstance(spec, TcpSpec):
        return f"tcp-{spec.host}:{spec.port}"
    return f"dns-{spec.name}"


# --------------------------------------------------------------------------- specs


def _http(check: Checker, entries: Mapping[str, Entry], address: str) -> HttpSpec | None:
    url_node, url_path = entries["url"]
    url = check.text(url_node, url_path)
    if url is None or check.valid(url_node, url_path, url, check_url) is None:
        return None
    kwargs: dict[str, Any] = {"url": url}
    for key, (node, key_path) in entries.items():
        if key == "method":
            method = check.choice(node, key_path, [m.lower() for m in _METHODS])
            kwargs[key] = method.upper() if method else None
        elif key == "expect_status":
            kwargs[key] = _expect_status(check, node, key_path)
        elif key == "body_contains":
            kwargs[key] = check.text(node, key_path)
        elif key == "body_regex":
            regex = check.text(node, key_path)
            if regex is not None and check_regex(check, node, key_path, regex):
                kwargs[key] = regex
        elif key in ("follow_redirects", "verify_tls"):
            kwargs[key] = check.boolean(node, key_path)
        elif key == "headers":
            kwargs[key] = _headers(check, node, key_path)
        elif key == "basic_auth":
            kwargs.update(_basic_auth(check, node, key_path))
        elif key == "ca_file":
            kwargs[key] = check.local_file(node, key_path)  # relative to the config file
    return HttpSpec(**{k: v for k, v in kwargs.items() if v is not None})


def _expect_status(check: Checker, node: Node, path: str) -> tuple[tuple[int, int], ...] | None:
    items: list[tuple[Node, str]]
    if isinstance(node, ScalarNode):
        items = [(node, path)]
    else:
        items = [(item, index(path, i)) for i, item in enumerate(check.sequence(node, path) or [])]
    ranges: list[tuple[int, int]] = []
    for item, item_path in items:
        text = check.text(item, item_path)
        if text is None:
            continue
        try:
            ranges.append(parse_status_range(text))
        except ValueError as exc:
            check.report(item, item_path, str(exc))
    return tuple(ranges) or None


def _headers(check: Checker, node: Node, path: str) -> tuple[tuple[str, str], ...] | None:
    entries = check.mapping(node, path, None)
    if entries is None:
        return None
    headers = []
    for name, value_node in entries.items():
        value = check.text(value_node, join(path, name))
        if value is not None:
            headers.append((name, value))
    return tuple(headers)


def _basic_auth(check: Checker, node: Node, path: str) -> dict[str, Any]:
    entries = check.mapping(node, path, ("user", "password"), required=("user", "password"))
    if not entries or "user" not in entries or "password" not in entries:
        return {}
    return {
        "basic_auth_user": check.text(entries["user"], join(path, "user")),
        "basic_auth_password": check.secret(entries["password"], join(path, "password")),
    }


def _tcp(check: Checker, entries: Mapping[str, Entry], address: str) -> TcpSpec | None:
    host: str | None = address
    port: int | None = None
    port_node, port_path = entries["port"]
    if isinstance(port_node, ScalarNode) and port_node.tag != INT and ":" in port_node.value:
        # Short form `tcp: "mail.example.gov.vn:25"`.
        try:
            host, port = parse_listen(port_node.value)
        except ValueError as exc:
            check.report(port_node, port_path, str(exc))
            return None
    else:
        port = check.integer(port_node, port_path, minimum=1, maximum=65535)
    if "host" in entries:
        host = _address(check, *entries["host"])
    flags = {
        key: check.boolean(*entries[key])
        for key in ("tls", "starttls", "verify_tls")
        if key in entries
    }
    if flags.get("tls") and flags.get("starttls"):
        check.report(*entries["starttls"], "use tls or starttls, not both")
    encrypted = bool(flags.get("tls") or flags.get("starttls"))
    for key in ("verify_tls", "ca_file"):
        if key in entries and not encrypted:
            check.report(*entries[key], f"'{key}' needs tls: true or starttls: true")
    ca_file = check.local_file(*entries["ca_file"]) if "ca_file" in entries else None
    banner = check.text(*entries["expect_banner"]) if "expect_banner" in entries else None
    if host is None or port is None:
        return None
    return TcpSpec(
        host=host,
        port=port,
        expect_banner=banner,
        tls=bool(flags.get("tls")),
        starttls=bool(flags.get("starttls")),
        verify_tls=flags.get("verify_tls") is not False,
        ca_file=ca_file,
    )


def _dns(check: Checker, entries: Mapping[str, Entry], address: str) -> DnsSpec | None:
    name = _address(check, *entries["name"])
    server = _address(check, *entries["server"]) if "server" in entries else address
    port: int | None = 53
    if "port" in entries:
        port = check.integer(*entries["port"], minimum=1, maximum=65535)
    expect: str | None = None
    if "expect_address" in entries:
        expect = check.text(*entries["expect_address"])
        if expect is not None:
            expect = check.valid(*entries["expect_address"], expect, ipaddress.ip_address)
    if name is None or server is None or port is None:
        return None
    return DnsSpec(name=name, server=server, port=port, expect_address=expect)


def _address(check: Checker, node: Node, path: str) -> str | None:
    text = check.text(node, path)
    return None if text is None else check.valid(node, path, text, check_address)


_SPEC_BUILDERS: dict[str, Any] = {"http": _http, "tcp": _tcp, "dns": _dns}
