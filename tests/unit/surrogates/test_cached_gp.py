"""`CachedExactGP` reproduces the fitted exact GP's posterior, gradients and acquisitions."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from botorch.acquisition.analytic import LogExpectedImprovement
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.optim.utils.acquisition_utils import get_X_baseline
from botorch.sampling import SobolQMCNormalSampler
from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel

from asktell.core.snapshots import StudySnapshot, TrialRecord
from asktell.core.space import SearchSpace
from asktell.core.states import TrialState
from asktell.strategies.gp import GP
from asktell.surrogates.cached_gp import CachedExactGP, CachedLogExpectedImprovement, can_cache
from asktell.surrogates.gp import fit_gp
from asktell_client.types import FloatParam, ObjectiveSpec, StudySettings

torch.set_num_threads(1)

CASES = [  # (n, d, outputs, categorical dims, noisy)
    (12, 2, 1, (), False),
    (40, 5, 1, (), True),
    (60, 3, 1, (), False),
    (30, 3, 2, (), False),
    (20, 3, 1, (2,), False),
]
SHAPES = [(4, 1), (3,), (2, 4, 3)]  # batch x q: q = 1, q = 3 joint, two batch dimensions


def data(n: int, d: int, m: int, cat_dims: tuple[int, ...], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=g, dtype=torch.double)
    for i in cat_dims:
        X[:, i] = torch.randint(0, 3, (n,), generator=g).double()
    Y = torch.sin(6 * X[:, :1]) + X.pow(2).sum(-1, keepdim=True)
    if m > 1:
        Y = torch.cat([Y, -X[:, -1:] + 0.3 * torch.cos(5 * X[:, :1])], dim=-1)
    return X, Y + 0.05 * torch.randn(n, m, generator=g, dtype=torch.double)


def points_like(d: int, shape: tuple[int, ...], cat_dims: tuple[int, ...], seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(*shape, d, generator=g, dtype=torch.double)
    for i in cat_dims:
        X[..., i] = torch.randint(0, 3, shape, generator=g).double()
    return X


def assert_same_posterior(got, expected) -> None:
    """Equal means and covariances, to 1e-8."""
    torch.testing.assert_close(got.mean, expected.mean, atol=1e-8, rtol=0)
    torch.testing.assert_close(
        got.distribution.covariance_matrix,
        expected.distribution.covariance_matrix,
        atol=1e-8,
        rtol=0,
    )


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "n{}-d{}-m{}-cat{}-noisy{}".format(*c))
def fitted(request):
    n, d, m, cat_dims, noisy = request.param
    X, Y = data(n, d, m, cat_dims)
    torch.manual_seed(0)
    model, _ = fit_gp(X, Y, cat_dims=cat_dims, noisy=noisy)
    assert can_cache(model)
    return model, CachedExactGP(model), X, cat_dims


@pytest.mark.parametrize("shape", SHAPES)
def test_posterior_matches(fitted, shape):
    model, cached, X_train, cat_dims = fitted
    X = points_like(X_train.shape[-1], shape, cat_dims)
    for noise in (False, True):
        expected = model.posterior(X, observation_noise=noise)
        got = cached.posterior(X, observation_noise=noise)
        assert got.mean.shape == expected.mean.shape
        assert_same_posterior(got, expected)
    assert cached.num_outputs == model.num_outputs
    assert cached.batch_shape == model.batch_shape


@pytest.mark.parametrize("shape", SHAPES)
def test_gradients_match(fitted, shape):
    model, cached, X_train, cat_dims = fitted
    grads = []
    for m in (model, cached):
        X = points_like(X_train.shape[-1], shape, cat_dims).requires_grad_(True)
        posterior = m.posterior(X)
        loss = posterior.mean.sum() + posterior.distribution.covariance_matrix.sum()
        grads.append(torch.autograd.grad(loss, X)[0])
    torch.testing.assert_close(grads[1], grads[0], atol=1e-6, rtol=0)


def acquisitions(model, X_train: torch.Tensor):
    """The acquisition functions the pipeline builds for this model's output count."""
    sampler = SobolQMCNormalSampler(torch.Size([64]), seed=0)
    pending = X_train[:2] * 0.9 + 0.05
    if model.num_outputs == 1:
        yield qLogNoisyExpectedImprovement(
            model, X_baseline=X_train, prune_baseline=False, sampler=sampler, X_pending=pending
        )
        yield LogExpectedImprovement(model, best_f=model.posterior(X_train).mean.max())
    else:
        yield qLogNoisyExpectedHypervolumeImprovement(
            model,
            ref_point=torch.tensor([-1.0, -2.0], dtype=torch.double),
            X_baseline=X_train,
            prune_baseline=False,
            sampler=sampler,
        )


def test_acquisition_values_match(fitted):
    model, cached, X_train, cat_dims = fitted
    X = points_like(X_train.shape[-1], (16, 1), cat_dims, seed=2)
    for expected_acq, got_acq in zip(
        acquisitions(model, X_train), acquisitions(cached, X_train), strict=True
    ):
        torch.testing.assert_close(got_acq(X), expected_acq(X), atol=1e-6, rtol=1e-9)


def test_training_points_are_found(fitted):
    model, cached, X_train, _ = fitted
    expected = get_X_baseline(SimpleNamespace(model=model))  # an acquisition without a baseline
    got = get_X_baseline(SimpleNamespace(model=cached))
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got, X_train)


KERNELS = {
    "scaled-matern52": lambda b: ScaleKernel(
        MaternKernel(nu=2.5, ard_num_dims=3, batch_shape=b), batch_shape=b
    ),
    "matern32": lambda b: MaternKernel(nu=1.5, ard_num_dims=3, batch_shape=b),
    "scaled-matern12": lambda b: ScaleKernel(MaternKernel(nu=0.5, batch_shape=b), batch_shape=b),
    "scaled-rbf": lambda b: ScaleKernel(RBFKernel(ard_num_dims=3, batch_shape=b), batch_shape=b),
    "sum-via-module": lambda b: ScaleKernel(
        RBFKernel(ard_num_dims=3, batch_shape=b) + MaternKernel(nu=2.5, batch_shape=b),
        batch_shape=b,
    ),
}


@pytest.mark.parametrize("kernel", sorted(KERNELS))
@pytest.mark.parametrize("m", [1, 2])
def test_other_kernels(kernel, m):
    X, Y = data(25, 3, m, ())
    covar_module = KERNELS[kernel](torch.Size([m]) if m > 1 else torch.Size())
    model = SingleTaskGP(X, Y, covar_module=covar_module, input_transform=Normalize(d=3))
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "covar_module" in name:
                p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) * 1.5 - 1.0)
    model.eval()
    cached = CachedExactGP(model)
    assert (cached._kernel is None) == (kernel == "sum-via-module")  # plain torch where it can
    X_test = points_like(3, (4, 3), ()).requires_grad_(True)
    expected, got = model.posterior(X_test), cached.posterior(X_test)
    assert_same_posterior(got, expected)
    grads = [
        torch.autograd.grad(p.mean.sum() + p.distribution.covariance_matrix.sum(), X_test)[0]
        for p in (expected, got)
    ]
    torch.testing.assert_close(grads[1], grads[0], atol=1e-6, rtol=0)


def test_rejects_other_models():
    assert not can_cache(torch.nn.Linear(2, 1))
    with pytest.raises(ValueError):
        CachedExactGP(torch.nn.Linear(2, 1))


def snapshot(n: int, d: int) -> StudySnapshot:
    space = SearchSpace([FloatParam(name=f"x{i}", low=0.0, high=1.0) for i in range(d)])
    X = np.random.default_rng(3).random((n, d))
    trials = [
        TrialRecord(
            i,
            TrialState.completed,
            {f"x{j}": float(v) for j, v in enumerate(x)},
            {"value": float(np.sum((x - 0.3) ** 2) + 0.1 * np.sum(np.sin(10 * x)))},
        )
        for i, x in enumerate(X)
    ]
    return StudySnapshot(
        study_id=1,
        space=space,
        objectives=[ObjectiveSpec(name="value")],
        settings=StudySettings(seed=0),
        completed=trials,
    )


@pytest.mark.parametrize("analytic_ei", [True, False])
def test_strategy_suggests_the_same_points_with_and_without(analytic_ei):
    """Two points: the second sees the first as pending (MC acquisition either way)."""
    study = snapshot(15, 3)
    points = []
    for cached in (True, False):
        gp = GP({"cached_posterior": cached, "analytic_ei": analytic_ei})
        proposal = gp.suggest(study, 2, None)
        assert "fallback" not in proposal.info
        points.append(np.array([[p[f"x{i}"] for i in range(3)] for p in proposal.points]))
    np.testing.assert_allclose(points[0], points[1], atol=1e-4, rtol=0)


def test_lean_log_ei_matches_botorchs(fitted):
    """Same values and gradients as `LogExpectedImprovement` on the same cached model;
    a model with several outputs goes through the parent's posterior path."""
    model, cached, X_train, cat_dims = fitted
    best_f = X_train.new_tensor(0.5)
    X = points_like(X_train.shape[-1], (6, 1), cat_dims).requires_grad_(True)
    if model.num_outputs > 1:
        assert cached.marginals(X) is None
        return
    lean, reference = (
        CachedLogExpectedImprovement(cached, best_f),
        LogExpectedImprovement(cached, best_f),
    )
    values = [acq(X) for acq in (lean, reference)]
    torch.testing.assert_close(values[0], values[1], atol=1e-10, rtol=0)
    grads = [torch.autograd.grad(v.sum(), X)[0] for v in values]
    torch.testing.assert_close(grads[0], grads[1], atol=1e-10, rtol=0)
    on_model = CachedLogExpectedImprovement(model, best_f)(X)  # not cached: parent's path
    torch.testing.assert_close(on_model, values[1], atol=1e-8, rtol=0)
