"""Settings of the evaluation service: the shared ones plus its own, env prefix `GONGYI_EVALUATION_`."""

from __future__ import annotations

from datetime import time
from typing import ClassVar

from shared.settings import ServiceSettings


class EvaluationSettings(ServiceSettings):
    service: ClassVar[str] = "evaluation"

    # the daily sweep that expires grades whose validity ended (Asia/Shanghai)
    expiry_sweep_at: time = time(1, 0)
