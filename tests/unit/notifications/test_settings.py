"""The notifications settings that guard deliveries."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.notifications.settings import NotificationsSettings


def test_https_is_required_in_production_unless_the_deployment_says_otherwise():
    assert NotificationsSettings.model_construct(env="production", webhook_require_https=None).require_https
    assert not NotificationsSettings.model_construct(env="production", webhook_require_https=False).require_https
    assert not NotificationsSettings(env="test").require_https


def test_a_malformed_allow_list_is_refused_at_start_up():
    with pytest.raises(ValidationError):
        NotificationsSettings(env="test", webhook_allow_cidrs="10.0.0.0/8, intranet")
    assert NotificationsSettings(env="test", webhook_allow_cidrs="10.0.0.0/8 127.0.0.1").webhook_allow_cidrs


def test_email_is_off_without_an_smtp_host():
    assert not NotificationsSettings(env="test").email_enabled
    assert NotificationsSettings(env="test", smtp_host="127.0.0.1").email_enabled
