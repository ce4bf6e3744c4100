"""The durable outbox: every notification is in SQLite before it is sent, until a channel took it.

- ``outbox``: :class:`~netwatch.alerting.outbox.outbox.Outbox`, the queue and its workers
  (one per channel), the only part the rest of netwatch uses.
- ``sending``: one send as a value, the retry :class:`~netwatch.alerting.outbox.sending.Backoff`,
  the supervision that restarts a task that died.
- ``storage``: the file, and memory while the file cannot take what comes (``memory``).
- ``journal``: the schema and every SQL statement; ``metrics``: the outbox's series.

Guarantees and their limits:

* At least once. A message whose send succeeded but whose deletion had not committed when the
  process died is sent again on restart; e-mail carries a stable Message-ID so mail clients show
  one copy.
* No duplicates from a re-``put``: each delivery has a key (alert id, state, escalation, contact,
  channel, repeat number) that is UNIQUE in the queue and remembered for a week after sending.
* Per (alert, contact, channel) messages go out in the order they were put: a recovery never
  overtakes the alarm it recovers while the alarm is still being retried.
* A full or failing disk: new deliveries are held in memory (at most 10,000; past that the
  oldest is dropped, logged and counted in ``netwatch_notifications_dropped_total``) and still
  sent; a row sent or retried whose update cannot be written keeps its new state in memory.
  All of it is written, in put order, when a write works again (tried every 2 s), and at
  shutdown if it can be; what cannot is logged with a count. Each task of ``Outbox.run``
  is restarted with backoff if it dies (``netwatch_outbox_restarts_total``).
* Durability: WAL with ``synchronous=FULL`` (why: ``journal``).

All SQLite work runs on one dedicated thread that owns the connection
(:class:`~netwatch.sqlite_thread.SqliteThread`); the event loop never blocks on the disk.
"""
