"""The first pass of the loader: files and includes read into site and device drafts.

The main file is read first, then its includes depth first; each site becomes a
:class:`SiteDraft` and each device a :class:`DeviceDraft` that remember where they were written.
Ids are registered here, so duplicates are found across files. Nothing is resolved yet: the
second pass (``tree``) attaches included sites, walks the tree and resolves what is inherited.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "n.yaml"
>>> _ = path.write_text("sites: [{id: hq, devices: [{id: r1, address: 10.0.0.1}]}]")
>>> reader = FileReader({})
>>> _ = reader.read(str(path))
>>> [d.id for d in reader.devices], reader.problems.items
(['r1'], [])
"""

from __future__ import annotations

import glob
import ipaddress
import os
from collections.abc import Mapping

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from netwatch.errors import ConfigError, Problem
from netwatch.models import AgentSettings, Contact, Role, TrapSettings
from netwatch.settings.alerting import AlertSettings
from netwatch.settings.notify import NotifySettings

from .agent import parse_agent, parse_contact
from .alerting import WindowDraft, parse_alerting, parse_maintenance
from .compose import compose_file, read_problem
from .drafts import DeviceDraft, SiteDraft
from .limits import Budget, LimitExceeded
from .notify import Notify, parse_notify
from .settings import INHERITABLE, Layer, parse_layer
from .source import Checker, Loc, Problems, Secrets, index, join
from .traps import parse_traps
from .values import check_address, check_id, parse_local_date

MAIN_KEYS = (
    "agent",
    "defaults",
    "contacts",
    "alerting",
    "maintenance",
    "notify",
    "traps",
    "sites",
    "include",
)
INCLUDED_KEYS = ("sites", "contacts", "include")
SITE_KEYS = (
    "id", "name", "level", "contacts", "gateway", "devices", "sites", "parent", "formerly",
    "merged",
)  # fmt: skip
DEVICE_KEYS = (
    "id", "name", "address", "role", "services", "depends_on", "shared_address", *INHERITABLE,
)  # fmt: skip
ROLES = tuple(role.value for role in Role)


class FileReader:
    """Reads a configuration and everything it includes into drafts, collecting problems."""

    def __init__(self, environ: Mapping[str, str], *, read_secrets: bool = True) -> None:
        self.problems = Problems()
        self.secrets = Secrets(environ, read=read_secrets)
        self.files: list[str] = []
        self.loaded: set[str] = set()
        self.budget = Budget()  # shared by the main file and every include
        self.roots: list[SiteDraft] = []
        self.adopted: list[SiteDraft] = []  # included sites with `parent:`
        self.site_ids: dict[str, SiteDraft] = {}
        self.device_ids: dict[str, DeviceDraft] = {}
        self.device_at_address: dict[str, DeviceDraft] = {}
        self.devices: list[DeviceDraft] = []
        self.contacts: dict[str, Contact] = {}
        self.contact_at: dict[str, Loc] = {}
        self.channel_at: dict[str, Loc] = {}  # contacts.NAME.CHANNEL -> where it is written
        # The main file's alerting, maintenance and notify sections.
        self.alerting = AlertSettings()
        self.windows: list[WindowDraft] = []
        self.notify = Notify(NotifySettings())
        self.timezone = AgentSettings().timezone  # the main file's, once read
        self.traps: TrapSettings | None = None

    def read(self, path: str) -> tuple[AgentSettings, Layer]:
        """Reads ``path`` and its includes; returns the agent settings and the defaults.

        Raises ``ConfigError`` only when the main file cannot be used at all.
        """
        return self._read_main(path)

    def _read_main(self, path: str) -> tuple[AgentSettings, Layer]:
        check = Checker(path, self.problems, self.secrets)
        try:
            root = compose_file(path, self.budget)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ConfigError(
                [Problem(path, 1, 1, "", f"cannot read the configuration: {reason}")]
            ) from exc
        except (UnicodeDecodeError, yaml.YAMLError, LimitExceeded) as exc:
            raise ConfigError([read_problem(path, exc)]) from exc
        self.files.append(path)
        self.loaded.add(os.path.realpath(path))
        if root is None or (isinstance(root, MappingNode) and not root.value):
            raise ConfigError([Problem(path, 1, 1, "", "the configuration is empty")])
        entries = check.mapping(root, "", MAIN_KEYS) or {}
        agent = parse_agent(check, entries.get("agent"), "agent")
        self.timezone = agent.timezone
        defaults = Layer()
        if "defaults" in entries:
            defaults_entries = check.mapping(entries["defaults"], "defaults", INHERITABLE) or {}
            defaults = parse_layer(check, defaults_entries, "defaults")
        if "alerting" in entries:
            self.alerting = parse_alerting(check, entries["alerting"], "alerting", agent.hierarchy)
        if "maintenance" in entries:
            self.windows = parse_maintenance(
                check, entries["maintenance"], "maintenance", agent.timezone
            )
        self.notify = parse_notify(check, entries.get("notify"), "notify", agent)
        if "traps" in entries:
            self.traps = parse_traps(check, entries["traps"], "traps")
        self._read_body(check, entries, included=False, chain=((os.path.realpath(path), path),))
        return agent, defaults

    def _read_body(
        self,
        check: Checker,
        entries: Mapping[str, Node],
        *,
        included: bool,
        chain: tuple[tuple[str, str], ...],
    ) -> None:
        """The parts a main and an included file share: contacts, sites, include."""
        if "contacts" in entries:
            self._read_contacts(check, entries["contacts"])
        if "sites" in entries:
            for i, node in enumerate(check.sequence(entries["sites"], "sites") or []):
                site = self._read_site(check, node, index("sites", i), None, top=included)
                if site is None:
                    continue
                (self.adopted if site.parent_ref else self.roots).append(site)
        if "include" in entries:
            self._read_includes(check, entries["include"], chain)

    # ------------------------------------------------------------------ includes

    def _read_includes(
        self, check: Checker, node: Node, chain: tuple[tuple[str, str], ...]
    ) -> None:
        listed = isinstance(node, SequenceNode)
        for i, (pattern, item) in enumerate(check.texts(node, "include") or []):
            path = index("include", i) if listed else "include"
            matches = sorted(
                m
                for m in glob.glob(os.path.join(check.base_dir, pattern), recursive=True)
                if os.path.isfile(m)
            )
            if not matches:
                folder = check.base_dir or "."
                check.report(item, path, f"include '{pattern}' matches no file (in {folder})")
            for match in matches:
                self._read_included(check, item, path, match, chain)

    def _read_included(
        self,
        check: Checker,
        item: Node,
        path: str,
        file: str,
        chain: tuple[tuple[str, str], ...],
    ) -> None:
        real = os.path.realpath(file)
        loop_start = next((i for i, (seen, _) in enumerate(chain) if seen == real), None)
        if loop_start is not None:
            names = [shown for _, shown in chain[loop_start:]] + [file]
            check.report(item, path, f"include loop: {' -> '.join(names)}")
            return
        if real in self.loaded:
            return  # matched by two globs: read once
        self.loaded.add(real)
        try:
            root = compose_file(file, self.budget)
        except OSError as exc:
            check.report(item, path, f"cannot read included file {file}: {exc.strerror}")
            return
        except (UnicodeDecodeError, yaml.YAMLError, LimitExceeded) as exc:
            self.files.append(file)
            self.problems.record(read_problem(file, exc))
            return
        self.files.append(file)
        sub = Checker(file, self.problems, self.secrets)
        if root is None:
            sub.problems.add(Loc(file, 1, 1, ""), "the included file is empty")
            return
        entries = sub.mapping(root, "", INCLUDED_KEYS) or {}
        self._read_body(sub, entries, included=True, chain=(*chain, (real, file)))

    # ------------------------------------------------------------------ contacts

    def _read_contacts(self, check: Checker, node: Node) -> None:
        entries = check.mapping(node, "contacts", None) or {}
        for name, value in entries.items():
            path = join("contacts", name)
            first = self.contact_at.get(name)
            if first is not None:
                check.report(value, path, f"duplicate contact '{name}' (first at {first.where()})")
                continue
            contact = parse_contact(check, name, value, path)
            if isinstance(value, MappingNode):
                for key_node, channel_node in value.value:
                    channel_path = join(path, str(key_node.value))
                    self.channel_at[channel_path] = check.loc(channel_node, channel_path)
            if contact is not None:
                self.contacts[name] = contact
                self.contact_at[name] = check.loc(value, path)

    # ------------------------------------------------------------------ sites and devices

    def _read_site(
        self, check: Checker, node: Node, path: str, parent: SiteDraft | None, *, top: bool
    ) -> SiteDraft | None:
        entries = check.mapping(node, path, (*SITE_KEYS, *INHERITABLE), required=("id",))
        if entries is None or "id" not in entries:
            return None
        site_id = check.ident(entries["id"], join(path, "id"))
        if site_id is None:
            return None
        first = self.site_ids.get(site_id)
        if first is not None:
            where = first.check.loc(first.node, "").where()
            check.report(
                entries["id"], join(path, "id"), f"duplicate site id '{site_id}' (first at {where})"
            )
        parent_ref = None
        if "parent" in entries:
            parent_ref = _reference(check, entries["parent"], join(path, "parent"))
            if not top:
                check.report(
                    entries["parent"],
                    join(path, "parent"),
                    "'parent' is only for the top-level sites of an included file; "
                    "nest this site under its parent instead",
                )
                parent_ref = None
        site = SiteDraft(
            id=site_id,
            node=node,
            path=path,
            check=check,
            name=_text_or(check, entries, path, "name", site_id),
            level=_reference(check, entries["level"], join(path, "level"))
            if "level" in entries
            else None,
            contacts=_references(check, entries, path, "contacts"),
            gateway=_reference(check, entries["gateway"], join(path, "gateway"))
            if "gateway" in entries
            else None,
            layer=parse_layer(check, entries, path),
            parent_ref=parent_ref,
            parent=parent,
        )
        if first is None:
            self.site_ids[site_id] = site
        self._read_merge(check, entries, path, site)
        self._read_site_contents(check, entries, path, site)
        return site

    def _read_merge(
        self, check: Checker, entries: Mapping[str, Node], path: str, site: SiteDraft
    ) -> None:
        """``formerly: [old-id, ...]`` and ``merged: DATE``: the units this site was made from."""
        if "formerly" in entries:
            site.formerly = []
            for i, (old, node) in enumerate(
                check.texts(entries["formerly"], join(path, "formerly")) or []
            ):
                item = index(join(path, "formerly"), i)
                if check.valid(node, item, old, check_id) is not None:
                    site.formerly.append((old, node))
        if "formerly" in entries and "merged" not in entries:
            check.report(
                entries["formerly"],
                join(path, "formerly"),
                "'formerly' needs 'merged': when this site took over from those units "
                '(local time, e.g. "2025-07-01 08:00", when this config was loaded)',
            )
        if "merged" in entries:
            merged_path = join(path, "merged")
            if "formerly" not in entries:
                check.report(
                    entries["merged"],
                    merged_path,
                    "'merged' needs 'formerly': the ids of the units merged",
                )
            text = check.text(entries["merged"], merged_path)
            if text is not None:
                try:
                    site.merged_at = parse_local_date(text, self.timezone)
                except ValueError as exc:
                    check.report(entries["merged"], merged_path, str(exc))

    def _read_site_contents(
        self, check: Checker, entries: Mapping[str, Node], path: str, site: SiteDraft
    ) -> None:
        if "devices" in entries:
            devices_path = join(path, "devices")
            for i, node in enumerate(check.sequence(entries["devices"], devices_path) or []):
                device = self._read_device(check, node, index(devices_path, i), site)
                if device is not None:
                    site.devices.append(device)
        if "sites" in entries:
            sites_path = join(path, "sites")
            for i, node in enumerate(check.sequence(entries["sites"], sites_path) or []):
                child = self._read_site(check, node, index(sites_path, i), site, top=False)
                if child is not None:
                    site.children.append(child)

    def _read_device(
        self, check: Checker, node: Node, path: str, site: SiteDraft
    ) -> DeviceDraft | None:
        entries = check.mapping(node, path, DEVICE_KEYS, required=("id", "address"))
        if entries is None or "id" not in entries:
            return None
        device_id = check.ident(entries["id"], join(path, "id"))
        address = None
        if "address" in entries:
            address = check.text(entries["address"], join(path, "address"))
            if address is not None:
                address = check.valid(
                    entries["address"], join(path, "address"), address, check_address
                )
        role = Role.OTHER
        if "role" in entries:
            role = Role(check.choice(entries["role"], join(path, "role"), ROLES) or Role.OTHER)
        layer = parse_layer(check, entries, path, device=True)
        depends = _references(check, entries, path, "depends_on")
        shared = False
        if "shared_address" in entries:
            shared = bool(check.boolean(entries["shared_address"], join(path, "shared_address")))
        if device_id is None:
            return None
        first = self.device_ids.get(device_id)
        if first is not None:
            check.report(
                entries["id"],
                join(path, "id"),
                f"duplicate device id '{device_id}' "
                f"(first at {first.check.loc(first.node, '').where()})",
            )
            return None
        device = DeviceDraft(
            id=device_id,
            node=node,
            path=path,
            check=check,
            site=site,
            address=address or "",  # invalid (reported); kept so its id is known
            role=role,
            name=_text_or(check, entries, path, "name", device_id),
            layer=layer,
            services_node=entries.get("services"),
            depends=depends,
            depends_node=entries.get("depends_on"),
            shared_address=shared,
        )
        self.device_ids[device_id] = device
        self.devices.append(device)
        if address:
            self._check_address(device, entries["address"], join(path, "address"))
        return device

    def _check_address(self, device: DeviceDraft, node: Node, path: str) -> None:
        """Two devices at one address are polled twice and alert twice: almost always a copy
        and paste slip. ``shared_address: true`` on either says it is meant (one SNMP agent
        answering for several devices, a host watched under two roles)."""
        key = _address_key(device.address)
        first = self.device_at_address.get(key)
        if first is None:
            self.device_at_address[key] = device
            return
        if device.shared_address or first.shared_address:
            return
        device.check.report(
            node,
            path,
            f"device '{first.id}' has the same address {device.address} "
            f"(at {first.check.loc(first.node, '').where()}); remove one, or set "
            "shared_address: true if two devices really share it",
        )


# --------------------------------------------------------------------------- helpers


def _address_key(address: str) -> str:
    """One spelling per address: ``10.0.0.1`` and IPv6 in canonical form, names lower case."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address.lower().rstrip(".")


def _reference(check: Checker, node: Node, path: str) -> tuple[str, Node] | None:
    text = check.text(node, path)
    return None if text is None else (text, node)


def _references(
    check: Checker, entries: Mapping[str, Node], path: str, key: str
) -> list[tuple[str, Node]] | None:
    if key not in entries:
        return None
    return check.texts(entries[key], join(path, key)) or []


def _text_or(check: Checker, entries: Mapping[str, Node], path: str, key: str, default: str) -> str:
    if key not in entries:
        return default
    return check.text(entries[key], join(path, key)) or default
