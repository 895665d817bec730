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

    def test_an_unknown_parameter_is_refused(self) -> None:
        with self.assertRaises(SystemExit):
            check_binaries.resolve({"Parameters": {}}, {"Ref": "Nope"})


if __name__ == "__main__":
    unittest.main()
