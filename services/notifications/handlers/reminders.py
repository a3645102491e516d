"""Scheduled reminders and the officers' daily digest (DOMAIN.md §4, §5).

Each job is idempotent: the notice it creates has a name-based cause id (what it reminds of and the
deadline), and inbox items and deliveries are unique per (cause, recipient, channel), so running a
job twice, or again after a crash, tells nobody twice. A job whose occurrence no longer matches the
current deadline (the call was extended, the notice re-published) does nothing: the occurrence for
the new deadline is already scheduled.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from services.notifications.domain import catalogue, reminders
from services.notifications.domain.preferences import Preferences
from services.notifications.domain.rendering import render
from services.notifications.handlers import facts
from services.notifications.handlers.common import synthetic_cause, table
from services.notifications.handlers.deps import Deps
from services.notifications.handlers.notify import Group, Notice, Notifier
from services.notifications.handlers.people import Person, people_of_orgs
from services.notifications.models import (
    AnnualReportFact,
    ApplicationFact,
    AssessmentFact,
    CallFact,
    Delivery,
    InboxItem,
    NoticeFact,
    OrganizationFact,
    Preference,
    Recipient,
)
from shared.uow import UnitOfWork
from shared.workdays import CalendarYearUnknown, local_date

_TOLERANCE = timedelta(seconds=1)
_NO_PREFS = Preferences()


class Reminders:
    def __init__(self, deps: Deps, notifier: Notifier) -> None:
        self.deps, self.notifier = deps, notifier

    @property
    def jobs(self) -> dict[str, Any]:
        return {
            facts.CALL_CLOSING: self.call_closing,
            facts.NOTICE_ENDING: self.notice_ending,
            facts.ASSESSMENT_DUE: self.assessment_due,
            facts.ANNUAL_REPORT: self.annual_reports,
            facts.DIGEST: self.digest,
            facts.PRUNE: self.prune,
        }

    def _working_day(self, day: date) -> bool:
        try:
            return bool(self.deps.calendar().is_working_day(day))
        except CalendarYearUnknown:
            return day.weekday() < 5  # a reminder is better a day early than lost

    async def _org_names(self, uow: UnitOfWork, org_ids: list[str]) -> dict[str, str]:
        o = table(OrganizationFact)
        names = dict.fromkeys(org_ids, "")
        for row in await uow.conn.execute(select(o.c.org_id, o.c.name).where(o.c.org_id.in_(org_ids))):
            names[row.org_id] = row.name
        return names

    async def _tell_orgs(
        self, uow: UnitOfWork, notice: Notice, names: dict[str, str], extra: dict[str, Any] | None = None
    ) -> int:
        people = await people_of_orgs(uow, names)
        groups = [Group(members, {"org": names[org_id], **(extra or {})}) for org_id, members in people.items()]
        return await self.notifier.to_people(uow, notice, groups)

    # -- call closing in N working days, to organizations holding a draft ------------------------

    async def call_closing(self, uow: UnitOfWork, call_id: str, due_at: datetime) -> None:
        c, a = table(CallFact), table(ApplicationFact)
        call = (await uow.conn.execute(select(c).where(c.c.call_id == call_id))).first()
        if call is None or call.closes_at is None or call.status in ("closed", "cancelled"):
            return
        s = self.deps.settings
        planned = reminders.at_local(
            reminders.working_days_before(
                reminders.last_day(call.closes_at), s.reminder_call_closing_working_days, self.deps.calendar()
            ),
            s.reminder_hour,
        )
        if due_at < planned - _TOLERANCE or uow.now >= call.closes_at:
            return  # superseded by the occurrence of a changed deadline, or too late to help
        drafts = await uow.conn.execute(
            select(a.c.org_id).where(a.c.call_id == call_id, a.c.status == "draft").distinct()
        )
        org_ids = sorted(row.org_id for row in drafts)
        if not org_ids:
            return
        ntype = catalogue.TYPES[facts.CALL_CLOSING]
        notice = Notice(
            ntype,
            synthetic_cause(ntype.name, call_id, call.closes_at.isoformat()),
            ntype.name,
            f"calls/{call_id}",
            call.region_code or None,
            {"call_title": call.title, "closes_at": call.closes_at.isoformat(), "d": {"call_id": call_id}},
        )
        await self._tell_orgs(uow, notice, await self._org_names(uow, org_ids))

    # -- public notice ending (awards, ratings) -------------------------------------------------

    async def notice_ending(self, uow: UnitOfWork, notice_id: str, due_at: datetime) -> None:
        n = table(NoticeFact)
        fact = (await uow.conn.execute(select(n).where(n.c.notice_id == notice_id))).first()
        if fact is None or fact.status != "open":
            return
        planned = reminders.at_local(reminders.last_day(fact.ends_at), self.deps.settings.reminder_hour)
        if due_at < planned - _TOLERANCE or uow.now >= fact.ends_at:
            return
        ntype = catalogue.TYPES[facts.NOTICE_ENDING]
        notice = Notice(
            ntype,
            synthetic_cause(ntype.name, notice_id, fact.ends_at.isoformat()),
            ntype.name,
            notice_id.replace(":", "s/", 1),
            fact.region_code or None,
            {"ends_at": fact.ends_at.isoformat(), "notice_kind": fact.kind},
        )
        await self._tell_orgs(uow, notice, await self._org_names(uow, [fact.org_id]))

    # -- assessment materials due ----------------------------------------------------------------

    async def assessment_due(self, uow: UnitOfWork, assessment_id: str, due_at: datetime) -> None:
        t = table(AssessmentFact)
        fact = (await uow.conn.execute(select(t).where(t.c.assessment_id == assessment_id))).first()
        if fact is None or fact.status != "scheduled" or fact.due_on is None:
            return
        deadline = reminders.due_on_deadline(fact.due_on)
        s = self.deps.settings
        planned = reminders.at_local(
            reminders.working_days_before(fact.due_on, s.reminder_assessment_working_days, self.deps.calendar()),
            s.reminder_hour,
        )
        if due_at < planned - _TOLERANCE or uow.now >= deadline:
            return
        ntype = catalogue.TYPES[facts.ASSESSMENT_DUE]
        notice = Notice(
            ntype,
            synthetic_cause(ntype.name, assessment_id, fact.due_on.isoformat()),
            ntype.name,
            f"awards/{fact.award_id}",
            None,
            {"award_id": fact.award_id, "stage": fact.stage, "due_on": fact.due_on.isoformat()},
        )
        await self._tell_orgs(uow, notice, await self._org_names(uow, [fact.org_id]))

    # -- annual reports (a daily sweep) ----------------------------------------------------------

    async def annual_reports(self, uow: UnitOfWork, _key: str, _due_at: datetime) -> None:
        today = local_date(uow.now)
        if not self._working_day(today):
            return
        o, r = table(OrganizationFact), table(AnnualReportFact)
        orgs = await uow.conn.execute(
            select(o.c.org_id, o.c.name, o.c.kind, o.c.dual_managed, o.c.region_code).where(
                o.c.status == "active", o.c.kind != "community_filed"
            )
        )
        due: dict[tuple[int, Any, bool], dict[str, str]] = {}
        regions: dict[str, str] = {}
        for org in orgs:
            window = reminders.annual_report_window(
                today,
                kind=org.kind,
                dual_managed=org.dual_managed,
                working_days=self.deps.settings.reminder_annual_report_working_days,
                calendar=self.deps.calendar(),
            )
            if window is not None:
                due.setdefault((window[0], window[1], org.dual_managed), {})[org.org_id] = org.name
                regions[org.org_id] = org.region_code
        ntype = catalogue.TYPES[facts.ANNUAL_REPORT]
        for (year, deadline, dual), names in due.items():
            filed = {
                row.org_id
                for row in await uow.conn.execute(
                    select(r.c.org_id).where(r.c.year == year, r.c.org_id.in_(list(names)))
                )
            }
            for org_id, name in names.items():
                if org_id in filed:
                    continue
                notice = Notice(
                    ntype,
                    synthetic_cause(ntype.name, org_id, year),
                    ntype.name,
                    f"organizations/{org_id}",
                    regions.get(org_id) or None,
                    {"report_year": year, "deadline": deadline.isoformat(), "dual_managed": dual},
                )
                await self._tell_orgs(uow, notice, {org_id: name})

    # -- the daily digest (officers by default) --------------------------------------------------

    async def digest(self, uow: UnitOfWork, _key: str, _due_at: datetime) -> None:
        today = local_date(uow.now)
        if not self.deps.settings.email_enabled or not self._working_day(today):
            return
        r, p, i = table(Recipient), table(Preference), table(InboxItem)
        subscribers = await uow.conn.execute(
            select(r.c.sub, r.c.role, r.c.locale, r.c.last_digest_at, r.c.created_at)
            .select_from(r.outerjoin(p, p.c.sub == r.c.sub))
            .where(r.c.email_enc.is_not(None))
            .where((p.c.digest == "daily") | (p.c.sub.is_(None) & (r.c.role == "officer")))
        )
        ntype = catalogue.TYPES[facts.DIGEST]
        limit = self.deps.settings.digest_max_items
        for row in list(subscribers):
            # Since the last digest (strictly: those items went out then), else since joining.
            since = (
                i.c.created_at > row.last_digest_at
                if row.last_digest_at is not None
                else i.c.created_at >= max(row.created_at, uow.now - timedelta(days=1))
            )
            base = select(i.c.title, i.c.created_at).where(
                i.c.recipient_sub == row.sub, since, i.c.mandatory.is_(False)
            )
            items = list(await uow.conn.execute(base.order_by(i.c.id).limit(limit)))
            await uow.conn.execute(update(r).where(r.c.sub == row.sub).values(last_digest_at=uow.now))
            if not items:
                continue
            total = len(items)
            if total == limit:
                total = (await uow.conn.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
            context = {
                "today": today.isoformat(),
                "total": total,
                "items": [{"title": it.title, "created_at": it.created_at.isoformat()} for it in items],
            }
            text = render(ntype.name, row.locale or "zh-CN", context)
            notice = Notice(ntype, synthetic_cause(ntype.name, row.sub, today.isoformat()), ntype.name, None, None)
            person = Person(row.sub, row.role, row.locale or "zh-CN", ("email",), _NO_PREFS, True, False)
            await self.notifier.email_only(uow, notice, person, text)

    # -- housekeeping ------------------------------------------------------------------------

    async def prune(self, uow: UnitOfWork, _key: str, _due_at: datetime) -> None:
        """Drop the texts and bodies of deliveries finished long ago; the log rows stay."""
        d = table(Delivery)
        cutoff = uow.now - timedelta(days=self.deps.settings.delivery_body_retention_days)
        await uow.conn.execute(
            update(d)
            .where(d.c.status.in_(["delivered", "cancelled"]), d.c.updated_at < cutoff, d.c.body.is_not(None))
            .values(body=None)
        )
