"""check_docs.py finds each kind of broken reference, and passes a sound tree.

Run: python3 -m unittest -q infra/docs/test_check_docs.py
"""

import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_docs  # noqa: E402

GUIDE = """# Guide

## Bounds: how long a slice runs

### `event_id`

## A job's life
"""


class CheckDocsTest(unittest.TestCase):
    def repo(self, files: dict[str, str]) -> Path:
        root = Path(tempfile.mkdtemp(prefix="check-docs-"))
        for name, text in {"docs/guide.md": GUIDE, **files}.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
        return root

    def problems(self, files: dict[str, str]) -> list[str]:
        return check_docs.check(self.repo(files))[0]

    def test_a_sound_tree_passes(self):
        files = {
            "README.md": "See [the guide](docs/guide.md#bounds-how-long-a-slice-runs) and "
            "[its field](docs/guide.md#event_id), [a site](https://example.com).\n",
            "src/lib.rs": '//! The rule (docs/guide.md, "Bounds"), wrapped: docs/guide.md, "A\n'
            "//! job's life\").\n",
            "migrations/1.sql": '-- kept (docs/guide.md, "event_id")\n',
        }
        self.assertEqual(self.problems(files), [])

    def test_a_missing_file_or_anchor_in_a_link_is_found(self):
        found = self.problems({"README.md": "[a](docs/gone.md) [b](docs/guide.md#nowhere) [c](#nor-here)\n"})
        self.assertEqual(len(found), 3, found)
        self.assertIn("no such file", found[0])
        self.assertIn("#nowhere", found[1])

    def test_a_code_comment_citing_a_missing_document_or_heading_is_found(self):
        found = self.problems(
            {
                "a.rs": '// see docs/missing.md\n// and docs/guide.md, "Cancel"\n',
                "b.py": "# docs/guide.md#no-anchor\n",
                "c.rs": '/// wrapped docs/guide.md, "A\n/// job\'s death")\n',
            }
        )
        self.assertEqual(len(found), 4, found)
        self.assertTrue(any("missing.md" in p for p in found))
        self.assertTrue(any('"Cancel"' in p for p in found))
        self.assertTrue(any("#no-anchor" in p for p in found))
        self.assertTrue(any("job's death" in p for p in found))

    def test_a_reference_outside_the_repository_is_found(self):
        found = self.problems({"x.rs": "// (contract v1, section 1)\n", "y.md": "see ../shared/docs/x.md\n"})
        self.assertEqual(len(found), 2, found)

    def test_links_inside_code_blocks_are_not_links(self):
        self.assertEqual(self.problems({"README.md": "```\n[a](docs/gone.md)\n```\n`[b](nope.md)`\n"}), [])

    def test_repeated_headings_get_numbered_anchors(self):
        files = {"docs/twice.md": "# T\n## Same\n## Same\n", "README.md": "[x](docs/twice.md#same-1)\n"}
        self.assertEqual(self.problems(files), [])


if __name__ == "__main__":
    unittest.main()
