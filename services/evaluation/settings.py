"""Settings of the evaluation service: the shared ones plus its own, env prefix `GONGYI_EVALUATION_`."""

from __future__ import annotations

from typing import ClassVar

from shared.settings import ServiceSettings


class EvaluationSettings(ServiceSettings):
    service: ClassVar[str] = "evaluation"
