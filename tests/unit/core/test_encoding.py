"""Property tests: the unit-cube encoding of any valid space."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asktell.core.encoding import SpaceEncoder
from asktell.core.space import SearchSpace
from asktell_client.types import StudyCreate

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def float_param(draw, name):
    log = draw(st.booleans())
    low = draw(st.floats(1e-6, 1e3)) if log else draw(finite)
    width = draw(st.floats(1e-3, 1e4))
    return {"name": name, "type": "float", "low": low, "high": low + width, "log": log}


@st.composite
def int_param(draw, name):
    log = draw(st.booleans())
    low = draw(st.integers(1, 100)) if log else draw(st.integers(-1000, 1000))
    step = 1 if log else draw(st.integers(1, 5))
    count = draw(st.integers(1, 50))
    return {
        "name": name,
        "type": "int",
        "low": low,
        "high": low + step * count,
        "step": step,
        "log": log,
    }


choice_values = st.one_of(
    st.text(min_size=1, max_size=5),
    st.integers(-5, 5),
    st.booleans(),
    st.floats(-10, 10, allow_nan=False),
)


@st.composite
def categorical_param(draw, name):
    choices = draw(
        st.lists(
            choice_values, min_size=1, max_size=6, unique_by=lambda v: (isinstance(v, bool), v)
        )
    )
    return {"name": name, "type": "categorical", "choices": choices}


@st.composite
def spaces(draw):
    n = draw(st.integers(1, 6))
    params = []
    for i in range(n):
        kind = draw(st.sampled_from(["float", "int", "categorical", "fixed"]))
        name = f"p{i}"
        if kind == "float":
            p = draw(float_param(name))
        elif kind == "int":
            p = draw(int_param(name))
        elif kind == "categorical":
            p = draw(categorical_param(name))
        else:
            p = {"name": name, "type": "fixed", "value": draw(choice_values)}
        parents = [q for q in params if q["type"] == "categorical"]
        if parents and draw(st.booleans()):
            parent = draw(st.sampled_from(parents))
            values = draw(st.lists(st.sampled_from(parent["choices"]), min_size=1, max_size=2))
            p["condition"] = {"parent": parent["name"], "values": values}
        params.append(p)
    return SearchSpace(StudyCreate(name="s", space=params).space)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=spaces(), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8))
def test_decoded_points_are_valid_and_stable(space, seed, n):
    encoder = SpaceEncoder(space)
    U = np.random.default_rng(seed).random((n, encoder.d))
    points = encoder.decode(U)
    for point in points:
        assert space.validate_params(point) == point
        assert set(point) == {p.name for p in space if space.is_active(p, point)}
    X = encoder.encode(points)
    assert X.shape == (n, encoder.d)
    assert np.all((X >= 0) & (X <= 1))
    for again, point in zip(encoder.decode(X), points, strict=True):
        assert again.keys() == point.keys()
        for k, v in point.items():
            same = (
                math.isclose(again[k], v, rel_tol=1e-9, abs_tol=1e-9)
                if type(v) is float
                else again[k] == v and type(again[k]) is type(v)
            )
            assert same, (k, again[k], v)
    assert np.allclose(encoder.round(X), encoder.round(encoder.round(X)))


@settings(max_examples=100, deadline=None)
@given(space=spaces())
def test_cube_corners_decode_inside_bounds(space):
    encoder = SpaceEncoder(space)
    for corner in (np.zeros(encoder.d), np.ones(encoder.d), np.full(encoder.d, 0.5)):
        (point,) = encoder.decode(corner[None, :])
        space.validate_params(point)


def test_int_values_equally_likely():
    space = SearchSpace(
        StudyCreate(
            name="s", space=[{"name": "k", "type": "int", "low": 0, "high": 9, "step": 3}]
        ).space
    )
    encoder = SpaceEncoder(space)
    ks = [p["k"] for p in encoder.decode(np.random.default_rng(0).random((4000, 1)))]
    counts = np.bincount(np.array(ks) // 3)
    assert counts.min() > 900 and set(ks) == {0, 3, 6, 9}


def test_log_float_is_uniform_in_log_space():
    space = SearchSpace(
        StudyCreate(
            name="s", space=[{"name": "lr", "type": "float", "low": 1e-5, "high": 1.0, "log": True}]
        ).space
    )
    encoder = SpaceEncoder(space)
    xs = [p["lr"] for p in encoder.decode(np.random.default_rng(0).random((4000, 1)))]
    below = sum(x < 1e-3 for x in xs) / len(xs)
    assert math.isclose(below, 0.4, abs_tol=0.04)
