"""The output checks: ``write`` returns the non-empty files it wrote inside its folder,
with and without a hole."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from zsbench.plugin import Output
from zsbench.testing._base import Check, PluginLike, Subject, _Fail, bind, conformance_check
from zsbench.testing.common import COMMON_CHECKS
from zsbench.testing.metrics import context


class OutputHarness(Subject):
    """An output under test."""

    base = Output
    kind = "output"

    def write(self, which: str) -> None:
        """Write on scenario ``which`` into a fresh folder and check what came back."""
        with tempfile.TemporaryDirectory(prefix="zsbench-kit-") as tmp:
            folder = Path(tmp) / "pictures"
            folder.mkdir()
            paths = self.fresh().write(context(which, self.seed), folder)
            if not isinstance(paths, list):
                raise _Fail(f"write returned {type(paths).__name__}; expected a list of the "
                            "paths written.")
            for p in paths:
                p = Path(p)
                if not p.is_file() or p.stat().st_size == 0:
                    raise _Fail(f"write returned {p}, which is not a non-empty file.")
                try:
                    p.resolve().relative_to(folder.resolve())
                except ValueError:
                    raise _Fail(f"write returned {p}, outside the folder it was given "
                                f"({folder}).") from None


output_check = conformance_check(OutputHarness)


@output_check
def check_write_files(h: OutputHarness) -> None:
    """On a context with a hole and transects."""
    h.write("realistic")


@output_check
def check_write_without_hole(h: OutputHarness) -> None:
    """On a context without a hole."""
    h.write("no_hole")


OUTPUT_CHECKS = (check_write_files, check_write_without_hole)


def check_output(output: PluginLike, *, seed: int = 0,
                 label: str | None = None) -> Iterator[Check]:
    """Yield the checks of an output plugin as :class:`Check` ``(name, run)`` pairs: it
    writes non-empty files inside the folder it is given and returns their paths, on
    synthetic contexts with and without a hole."""
    h = OutputHarness(output, label=label, seed=seed)
    for check in (*COMMON_CHECKS, *OUTPUT_CHECKS):
        yield bind(check, h)
