"""``a2a-server check``: contract tests of any A2A server, driven by its agent card.

Fetch a card, validate it against A2A 1.0, then probe what it declares: each
interface answers, send and get work, ``historyLength`` semantics hold,
streaming works if declared, cancel behaves, declared security is enforced.
See docs/check.md.
"""

from a2a_server.check.report import CheckResult, Report
from a2a_server.check.runner import CheckOptions, run_check

__all__ = ["CheckOptions", "CheckResult", "Report", "run_check"]
