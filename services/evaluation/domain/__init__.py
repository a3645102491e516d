"""Pure rules of the evaluation service: no I/O, time passed in (split by role into modules).

- `points`: exact hundredths, the errors rules raise (`RuleBroken`, `Invalid`).
- `bands`: score → grade band tables; `templates`: indicator trees and score validation.
- `rulesets`: rule sets as data and validity arithmetic; `eligibility`: who may be rated.
- `scoring`: aggregation, spread, outliers; `rating`: committee, notice, appeal, recusal.
"""

from __future__ import annotations
