"""The grants service: 公益创投与政府购买服务 — calls, applications, eligibility, review,
awards within budget, tranches and payments.
"""
