"""`bench/zo_mlp.py --quick` runs end to end: server, two evaluator processes, every method."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_reports_every_part(tmp_path):
    plot = tmp_path / "zo_mlp.png"
    result = subprocess.run(
        [sys.executable, "-m", "bench.zo_mlp", "--quick", "--plot", str(plot)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for text in ("(a) HTTP", "(b) the same run", "first-order Adam", "cma-es", "| ask |"):
        assert text in result.stdout, text
    assert plot.stat().st_size > 10_000
