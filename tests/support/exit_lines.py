"""What a command must not print when it ends cleanly: shared by tests/integration/test_clean_exit.py and
tests/integration/test_demo.py (whose ``bci-stream demo --duration`` runs are also checked for a clean exit)."""

from __future__ import annotations

import re

#: What must not appear at exit: liblsl's ERR/WARN lines, Python tracebacks, exceptions and warnings.
BAD = re.compile(r"\bERR\b|ERROR|\bWARN|[Ww]arning|Traceback|KeyboardInterrupt|Exception|Error\b|did not stop")


def bad_lines(text: str) -> list[str]:
    """The lines of ``text`` that match :data:`BAD`."""
    return [line for line in text.splitlines() if BAD.search(line)]
