"""The notifications service: 通知 — inbox, email, SMS and signed webhooks for every party."""
