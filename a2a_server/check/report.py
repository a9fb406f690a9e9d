"""Check results: a readable report and JUnit XML for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass(frozen=True)
class CheckResult:
    """One check: ``group`` (the card, or one interface), its name, outcome and why."""

    group: str
    name: str
    status: str
    reason: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    """Every check of one run, in order."""

    target: str
    results: list[CheckResult] = field(default_factory=list)

    def add(self, result: CheckResult) -> CheckResult:
        """Record ``result``."""
        self.results.append(result)
        return result

    @property
    def failures(self) -> list[CheckResult]:
        """The failed checks."""
        return [r for r in self.results if r.status == FAIL]

    @property
    def ok(self) -> bool:
        """Whether nothing failed (skips are not failures)."""
        return not self.failures

    def find(self, group_prefix: str, name: str) -> CheckResult:
        """The result called ``name`` in the first group starting with ``group_prefix``."""
        for result in self.results:
            if result.group.startswith(group_prefix) and result.name == name:
                return result
        raise KeyError(f"{group_prefix} / {name}")

    def render(self) -> str:
        """The human-readable report."""
        lines = [f"a2a-server check {self.target}", ""]
        group = None
        for result in self.results:
            if result.group != group:
                group = result.group
                lines.append(group)
            mark = {PASS: "PASS", FAIL: "FAIL", SKIP: "SKIP"}[result.status]
            reason = f": {result.reason}" if result.reason else ""
            lines.append(f"  {mark}  {result.name}{reason}")
        passed = sum(r.status == PASS for r in self.results)
        skipped = sum(r.status == SKIP for r in self.results)
        lines += ["", f"{passed} passed, {len(self.failures)} failed, {skipped} skipped"]
        return "\n".join(lines)

    def write_junit(self, path: Path) -> None:
        """JUnit XML: one testsuite per group, one testcase per check."""
        root = ET.Element("testsuites", name="a2a-server check",
                          tests=str(len(self.results)), failures=str(len(self.failures)))
        groups: dict[str, ET.Element] = {}
        for result in self.results:
            suite = groups.get(result.group)
            if suite is None:
                suite = ET.SubElement(root, "testsuite", name=result.group)
                groups[result.group] = suite
            case = ET.SubElement(suite, "testcase", classname=result.group, name=result.name,
                                 time=f"{result.seconds:.3f}")
            if result.status == FAIL:
                ET.SubElement(case, "failure", message=result.reason[:500]).text = result.reason
            elif result.status == SKIP:
                ET.SubElement(case, "skipped", message=result.reason)
            elif result.reason:
                ET.SubElement(case, "system-out").text = result.reason
        for suite in groups.values():
            cases = list(suite)
            suite.set("tests", str(len(cases)))
            suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
            suite.set("skipped", str(sum(c.find("skipped") is not None for c in cases)))
        ET.indent(root)
        path.write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")
