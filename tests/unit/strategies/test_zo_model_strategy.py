"""`zo-model`: pairs per step, the log, state round trips and a quadratic trained end to end."""

from __future__ import annotations

import json

import pytest

from asktell.core.snapshots import StudySnapshot, TrialRecord
from asktell.core.space import SearchSpace
from asktell.core.states import TrialState
from asktell.strategies.registry import get_strategy
from asktell.strategies.zo_model import ZOModel, log_page
from asktell_client.types import FloatParam, ObjectiveSpec
from asktell_client.zo_types import zo_model_study

SPEC = zo_model_study("unit", seed=5)


def snapshot(trials: list[TrialRecord] = (), **changes) -> StudySnapshot:
    fields = {
        "study_id": 1,
        "space": SearchSpace(SPEC.space),
        "objectives": SPEC.objectives,
        "settings": SPEC.settings,
        "completed": [t for t in trials if t.state == TrialState.completed],
        "pending": [t for t in trials if t.state == TrialState.running],
        "failed": [t for t in trials if t.state == TrialState.failed],
    }
    return StudySnapshot(**{**fields, **changes})


def told(i: int, params: dict, plus: float, minus: float) -> TrialRecord:
    values = {"loss_plus": plus, "loss_minus": minus}
    return TrialRecord(i, TrialState.completed, params, values)


def test_registered_and_inline():
    cls = get_strategy("zo-model")
    assert cls is ZOModel and cls.inline and cls.stateful


def test_seeds_are_distinct_deterministic_and_survive_a_json_round_trip():
    strategy = ZOModel({"directions": 3})
    first = strategy.suggest(snapshot(), 2, None)
    again = ZOModel({"directions": 3}).suggest(snapshot(), 2, None)
    assert first.points == again.points
    state = json.loads(json.dumps(first.state))
    pending = [TrialRecord(i, TrialState.running, p) for i, p in enumerate(first.points)]
    more = ZOModel({"directions": 3}).suggest(snapshot(pending), 2, state)
    seeds = [p["zo_seed"] for p in first.points + more.points]
    assert len(set(seeds)) == 4 and {p["zo_step"] for p in more.points} == {0}


def test_a_closed_step_logs_projected_gradients():
    strategy = ZOModel({"directions": 2, "scale": 0.1, "lr": 0.5})
    proposal = strategy.suggest(snapshot(), 2, None)
    a, b = proposal.points
    trials = [told(0, a, 3.0, 1.0), told(1, b, 1.0, 2.0)]
    after = strategy.suggest(snapshot(trials), 1, proposal.state)
    assert after.points[0]["zo_step"] == 1
    page = log_page(after.state, study_id=1, since=0, limit=10)
    (entry,) = page.entries
    assert entry.seeds == [a["zo_seed"], b["zo_seed"]]
    assert entry.grads == pytest.approx([2.0 / 0.2 / 2, -1.0 / 0.2 / 2])
    assert entry.lr == 0.5 and entry.loss == pytest.approx(1.75)
    assert after.state["evaluations"] == 4


def test_history_floor_keeps_the_open_step_and_late_pairs():
    strategy = ZOModel({"directions": 1})
    assert strategy.history_floor(None, SearchSpace(SPEC.space)) is None
    first = strategy.suggest(snapshot(), 2, None)
    a, b = first.points
    assert strategy.history_floor(first.state, SearchSpace(SPEC.space)) == -1
    trials = [told(10, a, 1.0, 0.5), TrialRecord(11, TrialState.running, b)]
    second = strategy.suggest(snapshot(trials), 1, first.state)
    # step 0 closed with b still out: it may come back late, so step 0's floor stays.
    assert second.state["t"] == 1 and second.state["late"]
    assert strategy.history_floor(second.state, SearchSpace(SPEC.space)) == -1
    (c,) = second.points
    trials = [told(11, b, 1.0, 0.5), told(12, c, 1.0, 0.5)]
    third = strategy.suggest(snapshot(trials), 1, second.state)
    assert third.state["t"] == 2 and not third.state["late"]
    assert third.state["log"][1]["seeds"] == [c["zo_seed"], b["zo_seed"]]
    assert strategy.history_floor(third.state, SearchSpace(SPEC.space)) == 12


def test_the_optimizer_stays_fixed_when_options_change():
    state = ZOModel({"optimizer": "adam", "beta1": 0.5}).suggest(snapshot(), 1, None).state
    later = ZOModel({"optimizer": "sgd"}).suggest(snapshot(), 1, state).state
    assert later["optimizer"]["name"] == "adam" and later["optimizer"]["beta1"] == 0.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"space": SearchSpace([FloatParam(name="x", low=0, high=1)])}, "needs the space"),
        ({"objectives": [ObjectiveSpec(name="value")]}, "needs the objectives"),
    ],
)
def test_check_refuses_other_studies(changes, message):
    with pytest.raises(ValueError, match=message):
        ZOModel().check(snapshot(**changes))


def test_a_quadratic_trains_through_the_log():
    torch = pytest.importorskip("torch", reason="the client's replay needs torch")
    from asktell_client.zo import LogReplayer, pair_losses
    from asktell_client.zo_types import ZOLogStep, ZOOptimizer

    target = torch.linspace(-1, 1, 50)
    weights = torch.nn.Parameter(torch.zeros(50))
    module = torch.nn.Module()
    module.register_parameter("w", weights)

    def loss(m) -> float:
        return float(((m.w.detach() - target) ** 2).sum())

    strategy = ZOModel({"optimizer": "adam", "lr": 0.05, "scale": 1e-2, "directions": 2})
    replayer = LogReplayer(module, ZOOptimizer(name="adam"))
    state, trials, start = None, [], loss(module)
    while replayer.applied < 150:
        proposal = strategy.suggest(snapshot(trials), 1, state)
        state = proposal.state
        for entry in state["log"][replayer.applied :]:
            replayer.apply(ZOLogStep.model_validate(entry))
        p = proposal.points[0]
        trials = [t for t in trials if t.params["zo_step"] == state["t"]]
        plus, minus = pair_losses(module, p["zo_seed"], p["zo_scale"], loss)
        trials.append(told(len(trials), p, plus, minus))
    assert loss(module) < 0.1 * start
