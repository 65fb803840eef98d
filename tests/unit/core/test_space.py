"""Search-space checks on trial params, and point keys."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from asktell.core.errors import InvalidInput
from asktell.core.space import SearchSpace
from asktell.core.study import definition_from_json
from asktell_client.types import StudyCreate

SPACE = [
    {"name": "opt", "type": "categorical", "choices": ["adam", "sgd", True, 1]},
    {
        "name": "m",
        "type": "float",
        "low": 0,
        "high": 1,
        "condition": {"parent": "opt", "values": ["sgd"]},
    },
    {"name": "k", "type": "int", "low": 2, "high": 8, "step": 2},
]


def space() -> SearchSpace:
    return SearchSpace(StudyCreate(name="s", space=SPACE).space)


def test_booleans_and_numbers_stay_apart():
    s = space()
    assert s.validate_params({"opt": True, "k": 2}) == {"opt": True, "k": 2}
    assert s.validate_params({"opt": 1, "k": 2})["opt"] == 1
    assert s.point_key({"opt": True, "k": 2}) != s.point_key({"opt": 1, "k": 2})


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"opt": "sgd", "k": 2}, "params.m"),
        ({"opt": "adam", "k": 2, "m": 0.1}, "params.m"),
        ({"opt": "adam", "k": 3}, "params.k"),
        ({"opt": "adam", "k": 2.5}, "params.k"),
        ({"opt": "adam", "k": 10}, "params.k"),
        ({"opt": "rms", "k": 2}, "params.opt"),
    ],
)
def test_invalid_params_name_the_field(params, field):
    with pytest.raises(InvalidInput) as info:
        space().validate_params(params)
    assert info.value.field == field


def test_integral_float_accepted_for_int():
    assert space().validate_params({"opt": "adam", "k": 4.0}) == {"opt": "adam", "k": 4}


def test_point_key_ignores_order():
    s = space()
    assert s.point_key({"opt": "adam", "k": 2}) == s.point_key({"k": 2, "opt": "adam"})


def test_a_study_stored_before_the_choice_rule_still_loads():
    # 1 and 1.0 are one choice since a later release: new studies with both are refused,
    # a stored one must still load, or its trials could not be read.
    space = [{"name": "c", "type": "categorical", "choices": [1, 1.0, "a"]}]
    objectives = [{"name": "f", "direction": "minimize"}]
    with pytest.raises(ValidationError, match="distinct"):
        StudyCreate(name="s", space=space, objectives=objectives)
    spec = {"space": space, "objectives": objectives}
    definition = definition_from_json(spec, {"name": "random"}, {})
    assert [p.name for p in definition.space] == ["c"]
