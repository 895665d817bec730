#!/usr/bin/env python3
"""The template check must be able to fail: it is run on copies of
template.yaml with one thing broken, and each copy must be refused with the
reason named. Run by lint.sh (unittest; PyYAML from the SAM CLI's venv)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TEMPLATE = (REPO / "template.yaml").read_text(encoding="utf-8")


def check(text: str) -> subprocess.CompletedProcess:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    return subprocess.run(
        [sys.executable, str(HERE / "check_template_matches_code.py"), "--repo", str(REPO), "--template", f.name],
        capture_output=True, text=True, check=False)


def changed(old: str, new: str, count: int = 1) -> str:
    assert TEMPLATE.count(old) >= count, f"the template no longer contains {old!r}"
    return TEMPLATE.replace(old, new, count)


class TemplateCheck(unittest.TestCase):
    def test_the_template_passes(self):
        result = check(TEMPLATE)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_a_budget_row_that_overflows_fails(self):
        # Budget 100: 16 workers x 4 connections becomes 20 x 4 (+16).
        text = changed("!If [Budget100, 16,", "!If [Budget100, 20,", 2)
        result = check(text)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("connection budget 100 exceeded", result.stdout)

    def test_a_larger_pool_that_overflows_fails(self):
        text = changed('DATABASE_MAX_CONNECTIONS: "4"', 'DATABASE_MAX_CONNECTIONS: "6"')
        result = check(text)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("connection budget 100 exceeded", result.stdout)

    def test_more_slices_at_once_than_reserved_workers_fails(self):
        text = re.sub(r"MaximumConcurrency: !If \[.*\]", "MaximumConcurrency: 50", TEMPLATE)
        self.assertNotEqual(text, TEMPLATE)
        result = check(text)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("MaximumConcurrency must equal its ReservedConcurrentExecutions", result.stdout)

    def test_a_pool_setting_other_than_the_workers_at_once_fails(self):
        text = re.sub(r"WORKER_POOL_SLICES: !If \[.*\]", "WORKER_POOL_SLICES: 50", TEMPLATE)
        self.assertNotEqual(text, TEMPLATE)
        result = check(text)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("WORKER_POOL_SLICES must equal ScalingConfig.MaximumConcurrency", result.stdout)

    def test_deploys_without_rollback_alarms_fail(self):
        text = changed("    AutoPublishAlias: live\n", "")
        result = check(text)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("AutoPublishAlias must be set", result.stdout)


if __name__ == "__main__":
    unittest.main()
