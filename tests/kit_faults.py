"""The one way the kit's tests run checks on a plugin with a planted fault."""
from __future__ import annotations

from typing import Any

from zsbench.testing import Check, ConformanceError, check_plugin


def failures(checks: list[Check]) -> dict[str, str]:
    """Run every check; ``{check name: message}`` of those that failed."""
    failed = {}
    for check in checks:
        try:
            check()
        except ConformanceError as exc:
            failed[check.name] = str(exc)
    return failed


def assert_caught_by(plugin: Any, expected: set[str], phrase: str) -> None:
    """The kit run on ``plugin`` fails exactly the ``expected`` checks, each message names
    the plugin and the check, and one of them says ``phrase``."""
    failed = failures(list(check_plugin(plugin)))
    assert set(failed) == expected, failed
    for check, message in failed.items():
        assert message.startswith(f'plugin "{plugin.name}" failed {check}: '), message
    assert any(phrase in m for m in failed.values()), failed
