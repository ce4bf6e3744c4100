"""The configuration loader, split by job; ``netwatch.config`` is the entry point.

- ``values``: pure parsers for durations, addresses, URLs and ids (raise ``ValueError``).
- ``compose``: one file read into YAML nodes within the ``limits``, or the problem that
  stops it (too large, not UTF-8, a syntax error, a hostile alias).
- ``source``: where a node was written (file, line, column, YAML path), the secrets, and the
  ``Checker`` that turns nodes into typed values while collecting every problem.
- ``readers``: small typed readers applied to a mapping's entries by table.
- ``agent``: the ``agent`` section and the contacts.
- ``alerting``: the ``alerting`` section and the ``maintenance`` windows.
- ``notify``: the ``notify`` section (SMTP, Telegram, Alertmanager) and whether every contact's
  channels have it.
- ``profiles``: device profiles (the vendor OIDs of health and UPS state), built in
  (``profiles.yaml``) and the operator's own file, read and checked.
- ``up_checks``: which checks decide that a device is up, per role.
- ``settings``: inheritable settings layers (``defaults``, sites, devices) and their stacking.
- ``services``: a device's HTTP, TCP and DNS checks.
- ``files``: first pass, every file and include read into site and device ``drafts``.
- ``tree``: second pass, the site tree resolved (levels, gateways, contacts, dependencies)
  into ``Config``.
"""
