"""Time as a dependency: every service takes a `Clock`; nothing calls `datetime.now()` directly.

Contract:
- `now()` returns an aware UTC datetime.
- `SystemClock` is real time. `FixedClock` stands still until a test moves it (`set`, `advance`).
- `DevClock` (development mode only) is real until someone moves it; then it runs on from the
  instant it was set to. Its offset lives in a small JSON file in the data dir, so all processes of
  one development stack (and all four services of `gongyi up`) share one time; `POST /_dev/clock`
  moves it. Listeners are called after each move (the scheduler wakes up).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("instants must carry a UTC offset")
    return instant.astimezone(UTC)


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    def __init__(self, instant: datetime) -> None:
        self._now = _aware(instant)
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = _aware(instant)
        self._notify()

    def advance(self, delta: timedelta) -> None:
        self._now += delta
        self._notify()

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in self._listeners:
            listener()


class DevClock:
    def __init__(self, state_file: Path | None = None) -> None:
        self.state_file = state_file
        self._offset = timedelta(0)
        self._mtime_ns = -1
        self._listeners: list[Callable[[], None]] = []
        self._reload()

    def now(self) -> datetime:
        self._reload()
        return datetime.now(UTC) + self._offset

    @property
    def moved(self) -> bool:
        return self._offset != timedelta(0)

    def set(self, instant: datetime) -> None:
        self._store(_aware(instant) - datetime.now(UTC))

    def advance(self, delta: timedelta) -> None:
        self._reload()
        self._store(self._offset + delta)

    def reset(self) -> None:
        self._store(timedelta(0))

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _store(self, offset: timedelta) -> None:
        self._offset = offset
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"offset_seconds": offset.total_seconds()}))
            os.replace(tmp, self.state_file)
            self._mtime_ns = self.state_file.stat().st_mtime_ns
        for listener in self._listeners:
            listener()

    def _reload(self) -> None:
        if self.state_file is None:
            return
        try:
            mtime = self.state_file.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime == self._mtime_ns:
            return
        try:
            offset = float(json.loads(self.state_file.read_text())["offset_seconds"])
        except (ValueError, KeyError, OSError):
            return
        self._mtime_ns = mtime
        self._offset = timedelta(seconds=offset)
