"""docs/settings.md is generated from the table and committed: it must not be stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from monoceros.config import Config
from monoceros.config.docgen import generate

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_committed_settings_doc_is_fresh() -> None:
    assert DOC.read_text() == generate(), "docs/settings.md is stale: run `make docs` and commit it"


def test_docgen_module_prints_the_doc_and_ignores_the_environment() -> None:
    env = {"PORT": "1234", "WEB_CONCURRENCY": "7", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "monoceros.config.docgen"], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout == generate()


def test_doc_lists_every_setting_with_its_implemented_column() -> None:
    text = generate()
    for setting in Config.registry:
        assert f"### `{setting.name}`" in text
        row = next(line for line in text.splitlines() if line.startswith(f"| [`{setting.name}`]"))
        assert row.endswith("| yes |" if setting.implemented else "| no |")
