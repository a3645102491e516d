"""The caller's in-app inbox: list (newest first), unread count, mark one or all read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from services.notifications.handlers.common import table
from services.notifications.models import InboxItem
from shared.problems import NotFound
from shared.uow import UnitOfWork


async def listing(uow: UnitOfWork, sub: str, *, unread: bool, before: str | None, limit: int) -> list[Any]:
    i = table(InboxItem)
    stmt = select(i).where(i.c.recipient_sub == sub).order_by(i.c.id.desc()).limit(limit + 1)
    if unread:
        stmt = stmt.where(i.c.read_at.is_(None))
    if before:
        stmt = stmt.where(i.c.id < before)
    return list(await uow.conn.execute(stmt))


async def unread_count(uow: UnitOfWork, sub: str) -> int:
    i = table(InboxItem)
    stmt = select(func.count()).where(i.c.recipient_sub == sub, i.c.read_at.is_(None))
    return int((await uow.conn.execute(stmt)).scalar_one())


async def mark_read(uow: UnitOfWork, sub: str, item_id: str) -> Any:
    """Idempotent: reading an item twice keeps the first read time."""
    i = table(InboxItem)
    row = (await uow.conn.execute(select(i).where(i.c.id == item_id, i.c.recipient_sub == sub))).first()
    if row is None:
        raise NotFound(f"no inbox item {item_id}")
    if row.read_at is None:
        await uow.conn.execute(update(i).where(i.c.id == item_id).values(read_at=uow.now))
        row = (await uow.conn.execute(select(i).where(i.c.id == item_id))).first()
    return row


async def mark_all_read(uow: UnitOfWork, sub: str) -> int:
    i = table(InboxItem)
    result = await uow.conn.execute(
        update(i).where(i.c.recipient_sub == sub, i.c.read_at.is_(None)).values(read_at=uow.now)
    )
    return int(result.rowcount or 0)
