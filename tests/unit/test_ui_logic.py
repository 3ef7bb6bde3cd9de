"""The browser app's pure logic (live dashboard folding, questionnaire answers, role table, field
parsing, formula error spans) under vitest, so `make test` covers the TypeScript too."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

UI = Path(__file__).resolve().parents[2] / "ui"


def test_the_ui_unit_tests_pass() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: the browser app's unit tests need Node.js and npm")
    if not (UI / "node_modules" / ".bin" / "vitest").exists():
        pytest.fail("ui/node_modules is missing: run `make setup` (npm ci in ui/)")
    result = subprocess.run(
        [npm, "test", "--silent", "--prefix", str(UI), "--", "--reporter=dot"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1", "CI": "1"},
    )
    assert result.returncode == 0, f"vitest failed:\n{result.stdout}\n{result.stderr}"
    assert "passed" in result.stdout, f"vitest ran no tests:\n{result.stdout}"
