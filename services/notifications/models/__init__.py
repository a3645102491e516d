"""Tables of the notifications service (schema `notifications`) and its I/O models."""

from services.notifications.models.base import NotificationsModel, infra
from services.notifications.models.deliveries import Delivery, DeliveryAttempt, InboxItem, Subscription
from services.notifications.models.directory import Preference, Recipient
from services.notifications.models.facts import (
    AnnualReportFact,
    ApplicationFact,
    AssessmentFact,
    AssignmentFact,
    AwardFact,
    CallFact,
    NoticeFact,
    OrganizationFact,
)

__all__ = [
    "AnnualReportFact",
    "ApplicationFact",
    "AssessmentFact",
    "AssignmentFact",
    "AwardFact",
    "CallFact",
    "Delivery",
    "DeliveryAttempt",
    "InboxItem",
    "NoticeFact",
    "NotificationsModel",
    "OrganizationFact",
    "Preference",
    "Recipient",
    "Subscription",
    "infra",
]
