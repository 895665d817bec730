#!/usr/bin/env python3
"""check_binaries.py reads each function's architecture and runtime from
template.yaml, where they may be `!Ref`s to parameters: resolved to the
defaults `sam build` builds for. Run by lint.sh (unittest)."""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import check_binaries  # noqa: E402


class Resolve(unittest.TestCase):
    def test_the_template_resolves_to_what_sam_build_builds(self) -> None:
        template = check_binaries.load_template(HERE.parent.parent / "template.yaml")
        arch = template["Globals"]["Function"]["Architectures"][0]
        self.assertEqual(check_binaries.resolve(template, arch), "arm64")
        self.assertIn(check_binaries.resolve(template, "arm64"), check_binaries.ELF_MACHINE)

    def test_one_cargo_lambda_build_covers_every_function_as_sam_builds_it(self) -> None:
        template = check_binaries.load_template(HERE.parent.parent / "template.yaml")
        self.assertEqual(
            check_binaries.cargo_lambda_args(template),
            ["lambda", "build", "--release", "--arm64",
             "--bin", "replay-api", "--bin", "replay-worker", "--bin", "replay-sweeper"],
        )
        # Functions built for two targets: no shared build, SAM does each.
        worker = template["Resources"]["WorkerFunction"]["Properties"]
        worker["Architectures"] = ["x86_64"]
        self.assertIsNone(check_binaries.cargo_lambda_args(template))

    def test_an_unknown_parameter_is_refused(self) -> None:
        with self.assertRaises(SystemExit):
            check_binaries.resolve({"Parameters": {}}, {"Ref": "Nope"})


if __name__ == "__main__":
    unittest.main()
