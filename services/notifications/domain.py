"""Pure rules of the notifications service: no I/O, time passed in, events returned."""

from __future__ import annotations
