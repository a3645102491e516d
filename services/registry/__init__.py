"""The registry service: 登记管理 — the register of social organizations (登记 and 备案),
annual duties, penalties and credit lists.
"""
