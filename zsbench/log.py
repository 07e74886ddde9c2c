"""zsbench's messages go through the standard :mod:`logging` module, under the logger
``"zsbench"`` (children: ``zsbench.run``, ``zsbench.runner``, ...): progress at INFO,
problems that do not stop a run (a failing observer, a metric that raised, a corrupt cache
entry) at WARNING, details at DEBUG.

A library user configures logging as usual (``logging.basicConfig(level=logging.INFO)``
shows the progress; without any configuration Python prints warnings only). The CLI calls
:func:`configure`: INFO by default, ``-v`` for DEBUG, ``-q`` for warnings only.
"""

from __future__ import annotations

import logging
import sys

LOGGER = "zsbench"


class _Format(logging.Formatter):
    """``zsbench: message`` for progress, ``warning: message`` for problems."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = "zsbench" if record.levelno < logging.WARNING else record.levelname.lower()
        return f"{prefix}: {record.getMessage()}"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (so captured output captures it)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def configure(verbosity: int = 0) -> logging.Logger:
    """Send the ``zsbench`` logger's records to stderr: ``verbosity`` 0 shows INFO and up,
    1 or more DEBUG too, -1 or less WARNING and up. Calling it again replaces the setting."""
    logger = logging.getLogger(LOGGER)
    for h in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(h)
    handler = _StderrHandler()
    handler.setFormatter(_Format())
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbosity > 0 else
                    logging.INFO if verbosity == 0 else logging.WARNING)
    return logger
