"""Process logging: one handler on the root logger, personal data redacted before anything is written.

Contract: `configure_logging(level)` (called once by a process's entry point, never at import)
installs a stream handler whose `PiiRedactingFilter` masks citizen ID numbers and mobile numbers in
every record, including those of uvicorn, SQLAlchemy and aiokafka (PIPL: "ID numbers and phones
never appear whole in logs").
"""

from __future__ import annotations

import logging
import sys

from shared.pii import PiiRedactingFilter

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(PiiRedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
