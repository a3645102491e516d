"""Command handlers (called by api.py) and event handlers (called by the consumer) of grants."""

from __future__ import annotations
