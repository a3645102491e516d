"""Command handlers (called by api.py) and event handlers (called by the consumer) of evaluation."""

from __future__ import annotations
