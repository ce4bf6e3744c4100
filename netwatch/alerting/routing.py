"""Who hears about an alert, and through which channels.

An alert goes to the contacts of its root-cause site (already inherited from the nearest site
above that names some); escalation adds the nearest site above with contacts not yet told.
Every contact gets one delivery per channel it has; every alert also gets one ``log`` delivery.

>>> from netwatch.models import Contact
>>> book = {"lan": Contact("lan", email=("lan@example.gov.vn",), telegram_chat_id="-1")}
>>> [d.channel for d in deliveries(alert, ["lan"], book)]  # doctest: +SKIP
['email', 'telegram', 'log']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from netwatch.alerting.model import Alert, Delivery
from netwatch.models import Contact, Site
from netwatch.settings.notify import channels_of

LOG_CONTACT = "-"


def deliveries(
    alert: Alert, contacts: Iterable[str], book: Mapping[str, Contact], *, log: bool = True
) -> list[Delivery]:
    """One delivery per contact and channel, plus the log line. Unknown names are skipped
    (the config rejects them; a reload race must not lose the alert for everyone else)."""
    out = [
        Delivery(alert, name, channel)
        for name in dict.fromkeys(contacts)
        if (contact := book.get(name)) is not None
        for channel in channels_of(contact)
    ]
    if log:
        out.append(Delivery(alert, LOG_CONTACT, "log"))
    return out


def escalation_contacts(sites: Mapping[str, Site], site_id: str) -> tuple[str, ...]:
    """The contacts of the nearest site above ``site_id`` with anyone not told already."""
    site = sites.get(site_id)
    told = set(site.contacts) if site else set()
    parent = site.parent if site else None
    seen: set[str] = set()
    while parent is not None and parent in sites and parent not in seen:
        seen.add(parent)
        extra = tuple(c for c in sites[parent].contacts if c not in told)
        if extra:
            return extra
        parent = sites[parent].parent
    return ()
