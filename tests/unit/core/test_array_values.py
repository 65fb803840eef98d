"""Array values: checks, the stored block form, encoding into the unit cube, point keys."""

from __future__ import annotations

import numpy as np
import pytest

from asktell.core.arrays import as_block, check_array, format_params, summarize_params, to_numpy
from asktell.core.encoding import SpaceEncoder
from asktell.core.errors import InvalidInput
from asktell.core.space import SearchSpace
from asktell_client.types import ArrayFormat, ArrayParam, CategoricalParam, FloatParam

W = ArrayParam(name="w", length=5, low=-2.0, high=2.0)


def test_a_list_and_its_block_check_to_the_same_stored_value():
    x = [-2.0, -0.5, 0.0, 1.25, 2.0]
    assert check_array(W, x, "params.w") == check_array(W, as_block(np.array(x)), "params.w")
    assert to_numpy(check_array(W, x, "params.w")).tolist() == x


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([0.0] * 4, "must have 5 numbers"),
        ([0.0, 0.0, float("nan"), 0.0, 0.0], "element 2 is not finite"),
        ([0.0, 0.0, 0.0, 2.5, 0.0], "element 3 (2.5) is outside"),
        ([0.0, 0.0, 0.0, 0.0, "1"], "list of numbers"),
    ],
)
def test_bad_values_name_the_element(value, message):
    with pytest.raises(InvalidInput) as err:
        check_array(W, value, "params.w")
    assert err.value.field == "params.w" and message in err.value.message


def test_encoding_gives_one_column_per_element_and_decodes_back():
    space = SearchSpace(
        [
            FloatParam(name="a", low=0, high=1),
            ArrayParam(name="w", length=4, low=1e-3, high=1e3, log=True),
            CategoricalParam(name="c", choices=["x", "y"]),
        ]
    )
    encoder = SpaceEncoder(space)
    assert encoder.d == 6 and encoder.columns["w"] == slice(1, 5)
    assert encoder.signature() == [["a", "float", None], ["w", "array", 4], ["c", "categorical", 2]]
    X = np.array([[0.25, 0.0, 0.5, 0.75, 1.0, 0.75]])
    (point,) = encoder.decode(X)
    assert point["c"] == "y" and point["a"] == 0.25
    w = to_numpy(point["w"])
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, [1e-3, 1.0, 10**1.5, 1e3], rtol=1e-6)
    np.testing.assert_allclose(encoder.encode([point]), X, atol=1e-6)


def test_decoded_arrays_stay_inside_float32_bounds():
    p = ArrayParam(name="w", length=3, low=0.1, high=0.3)
    encoder = SpaceEncoder(SearchSpace([p]))
    (point,) = encoder.decode(np.array([[0.0, 0.5, 1.0]]))
    assert check_array(p, point["w"], "w") == point["w"]


def test_point_keys_depend_on_the_array_bytes():
    space = SearchSpace([W])
    a = check_array(W, [0.0] * 5, "w")
    b = check_array(W, [0.0] * 4 + [1e-7], "w")
    assert space.point_key({"w": a}) == space.point_key({"w": dict(a)})
    assert space.point_key({"w": a}) != space.point_key({"w": b})


def test_formats_and_summaries():
    params = {"w": as_block(np.arange(5, dtype=np.float32)), "x": 1.5}
    assert format_params(params, ArrayFormat.b64) is params
    assert format_params(params, ArrayFormat.list) == {"w": [0.0, 1.0, 2.0, 3.0, 4.0], "x": 1.5}
    assert summarize_params(params)["w"] == "float32[5] min 0 mean 2 max 4"
    assert summarize_params({"x": 1}) == {"x": 1}
