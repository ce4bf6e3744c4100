"""Probes: each turns one check of one device into a ``Sample``; a network failure is data."""
