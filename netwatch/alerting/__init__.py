"""Alerting: from status changes to one message per incident, to the right officer.

``model`` holds the values that cross this package's seams: the engine (topology, flapping,
maintenance, routing) produces ``Alert`` values and ``Delivery`` requests; the outbox stores each
delivery durably; a notifier per channel sends it.
"""
