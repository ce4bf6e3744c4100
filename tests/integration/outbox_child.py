"""Child process for the kill -9 test: queue mail for an SMTP port that is down, then wait.

Usage: python -m tests.integration.outbox_child DB_PATH SMTP_PORT COUNT
Prints "queued" once the deliveries are committed and the outbox has begun retrying.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry

from netwatch.alerting.model import Alert, Delivery
from netwatch.alerting.notifiers.smtp import SmtpNotifier
from netwatch.alerting.outbox.outbox import Outbox
from netwatch.alerting.outbox.sending import Backoff
from netwatch.models import Contact
from netwatch.settings.notify import NotifySettings, SmtpSettings

CONTACT = Contact("it-ninh-kieu", email=("cntt@ninhkieu.example.gov.vn",))


def alerts(count: int) -> list[Alert]:
    return [
        Alert(
            id=f"device:pc-{i:02d}:1700000000",
            state="firing",
            kind="down",
            severity="warning",
            subject=f"pc-{i:02d}",
            subject_kind="device",
            site="an-binh",
            site_name="Xã An Bình",
            started_at=1700000000.0,
        )
        for i in range(count)
    ]


def notifier(port: int) -> SmtpNotifier:
    cfg = SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=2,
                       sender="netwatch@cantho.example.gov.vn")  # fmt: skip
    return SmtpNotifier(cfg, NotifySettings())


async def main(db: Path, port: int, count: int) -> None:
    outbox = await Outbox.open(
        db, notifiers={"email": notifier(port)}, contacts={CONTACT.name: CONTACT},
        registry=CollectorRegistry(), backoff=Backoff(initial=0.2, maximum=1.0),
    )  # fmt: skip
    await outbox.put(Delivery(a, CONTACT.name, "email") for a in alerts(count))
    runner = asyncio.create_task(outbox.run())
    await asyncio.sleep(0.3)  # let some attempts fail and be rescheduled
    print("queued", flush=True)
    await asyncio.sleep(60)  # the test kills us long before; bounded in case it does not
    runner.cancel()
    await outbox.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
