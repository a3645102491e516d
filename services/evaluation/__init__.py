"""The evaluation service: 等级评估 — third-party rating of organizations (1A–5A) and assessment of funded projects."""
