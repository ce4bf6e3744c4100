"""Settings of the sections of the configuration, as frozen values, and the whole ``Config``.

Part of the vocabulary: every layer may read them, and they import nothing above ``models``.
``netwatch.configuration`` builds them from YAML (``configuration.alerting`` makes
``settings.alerting``, ``configuration.notify`` makes ``settings.notify``), the layers above read
them.

- ``alerting``: how alerts are timed and graded (``AlertSettings``, the ``Severity`` names),
  maintenance windows and silences.
- ``notify``: the notification channels' server settings (SMTP, Telegram, Alertmanager).
- ``config``: ``Config``, everything together.
"""
