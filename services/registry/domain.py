"""Pure rules of the registry service: no I/O, time passed in, events returned."""

from __future__ import annotations
