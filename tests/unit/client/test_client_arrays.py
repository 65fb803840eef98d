"""The client's array helpers, with numpy and (in a subprocess) without it."""

from __future__ import annotations

import base64
import subprocess
import sys
import textwrap

import numpy as np

from asktell_client import arrays
from asktell_client.types import ArrayBlock, Study


def _block(x) -> dict:
    return {"dtype": "float32", "b64": base64.b64encode(np.asarray(x, "<f4").tobytes()).decode()}


def test_to_numpy_reads_lists_blocks_and_models_as_writable_float32():
    for value in ([1.0, 2.5], _block([1.0, 2.5]), ArrayBlock(**_block([1.0, 2.5]))):
        x = arrays.to_numpy(value)
        assert x.dtype == np.float32 and x.tolist() == [1.0, 2.5]
        x[0] = 3.0  # writable


def test_encode_params_turns_numpy_arrays_into_blocks():
    out = arrays.encode_params({"w": np.array([[0.5, 1.0]]), "x": 2})
    assert out == {"w": _block([0.5, 1.0]), "x": 2}


def test_summaries_show_lengths_not_numbers():
    params = {"w": _block([1.0, 2.0, 3.0]), "v": [0.5] * 1000, "x": 1.5}
    assert arrays.summarize(params) == {"w": "<array[3]>", "v": "<array[1000]>", "x": 1.5}


def test_only_array_studies_ask_for_blocks():
    base = {
        "id": 1,
        "name": "s",
        "objectives": [{"name": "value"}],
        "constraints": [],
        "strategy": {"name": "random"},
        "settings": {},
        "state": "running",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    plain = Study(**base, space=[{"name": "x", "type": "float", "low": 0, "high": 1}])
    with_array = Study(
        **base, space=[{"name": "w", "type": "array", "length": 2, "low": 0, "high": 1}]
    )
    assert arrays.array_query(plain) == {}
    assert arrays.array_query(with_array) == {"array_format": "b64"}


def test_without_numpy_values_are_lists_and_the_error_names_the_extra():
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["numpy"] = None  # as if numpy were not installed
        from asktell_client import arrays
        assert not arrays.has_numpy()
        assert arrays.decode({_block([0.5, -1.0])!r}) == [0.5, -1.0]
        assert arrays.decode([1, 2]) == [1.0, 2.0]
        try:
            arrays.to_numpy([1.0])
        except ImportError as exc:
            assert "asktell-client[numpy]" in str(exc), exc
        else:
            raise SystemExit("no ImportError")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
