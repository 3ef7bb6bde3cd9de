"""Contract hygiene: gen/ matches proto/, buf lint is clean, no breaking change against the last
landed main, and the SDK's types hold under mypy --strict."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "node_modules" / ".bin" / "buf"


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_gen_is_fresh() -> None:
    result = run(sys.executable, "scripts/generate.py", "--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_lint_is_clean() -> None:
    result = run(str(BUF), "lint")
    assert result.returncode == 0, result.stdout + result.stderr


def _baseline() -> str | None:
    """The landed main (`AE_PROTO_BASELINE` may name another git ref), when it has contracts."""
    ref = os.environ.get("AE_PROTO_BASELINE", "main")
    has_buf_yaml = run("git", "cat-file", "-e", f"{ref}:buf.yaml").returncode == 0
    return ref if has_buf_yaml else None


def test_no_breaking_change_against_landed_main() -> None:
    ref = _baseline()
    if ref is None:
        pytest.skip("no landed main with contracts to compare against")
    result = run(str(BUF), "breaking", "--against", f".git#ref={ref}")
    assert result.returncode == 0, result.stdout + result.stderr


def test_sdk_example_type_checks_strictly() -> None:
    result = run(sys.executable, "-m", "mypy", "--strict", "examples/sdk_quickstart.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_rejects_misuse_of_the_sdk(tmp_path: Path) -> None:
    """The check above can fail: a request of the wrong type is caught."""
    bad = tmp_path / "bad_usage.py"
    bad.write_text(
        "from analytics.catalog.v1 import catalog_pb2\n"
        "from analytics_sdk import AnalyticsClient\n"
        "async def f(client: AnalyticsClient) -> None:\n"
        "    await client.catalog.GetKpi(catalog_pb2.ListKpisRequest())\n"
    )
    result = run(sys.executable, "-m", "mypy", "--strict", str(bad))
    assert result.returncode != 0
    assert "arg-type" in result.stdout


def test_hand_written_code_passes_ruff_and_strict_mypy() -> None:
    lint = run(sys.executable, "-m", "ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    types = run(sys.executable, "-m", "mypy")
    assert types.returncode == 0, types.stdout + types.stderr
