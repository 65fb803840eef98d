"""`asktell_client.zo`: fixed seeded directions, perturbation round trips, log replay."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch", reason="asktell_client.zo needs torch")

from asktell_client.zo import (  # noqa: E402
    LogReplayer,
    directions,
    pair_losses,
    perturbed,
    trained_parameters,
)
from asktell_client.zo_types import ZOLog, ZOLogStep, ZOOptimizer  # noqa: E402

# torch.randn from a CPU generator; a change here breaks every stored study's replay.
REFERENCE = {
    0: [
        [1.5409960746765137, -0.293428897857666, -2.1787893772125244],
        [0.5684312582015991, -1.0845223665237427, -1.3985954523086548],
        [0.40334683656692505, 0.8380263447761536, -0.7192575931549072, -0.40334352850914],
    ],
    12345: [
        [1.4271304607391357, -1.8700891733169556, -1.1962103843688965],
        [-2.0439512729644775, -0.45599058270454407, -1.429450511932373],
        [-0.7175348997116089, 1.3921992778778076, 0.0810621827840805, -1.1935831308364868],
    ],
    2**32 - 1: [
        [1.2197630405426025, -0.3929794728755951, 1.0230751037597656],
        [-0.3734211325645447, -0.07551019638776779, -1.2582277059555054],
        [0.33471572399139404, -0.6766226291656494, -0.2644968628883362, 0.19176366925239563],
    ],
}
LONG_TAIL = [-1.3677397, -0.1007343, 0.2370146, 0.6326821, -0.0916772]  # seed 7, 40 values


def mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in trained_parameters(module)])


@pytest.mark.parametrize("seed", sorted(REFERENCE))
def test_directions_match_the_fixed_reference(seed):
    params = [torch.zeros(2, 3), torch.zeros(4)]
    z = [t.flatten().tolist() for t in directions(seed, params)]
    expected = REFERENCE[seed]
    assert z[0] == expected[0] + expected[1] and z[1] == expected[2]


def test_long_directions_match_the_reference():
    (z,) = directions(7, [torch.zeros(40)])
    assert z[-5:].tolist() == pytest.approx(LONG_TAIL, abs=1e-7)


def test_directions_take_the_parameters_dtype_and_ignore_global_seed():
    torch.manual_seed(99)
    (z,) = directions(0, [torch.zeros(3, dtype=torch.float64)])
    assert z.dtype == torch.float64
    assert z.tolist() == [float(torch.tensor(v)) for v in REFERENCE[0][0]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_directions_on_cuda_equal_the_cpu_ones():
    cpu = [torch.zeros(300, 7), torch.zeros(5)]
    cuda = [t.cuda() for t in cpu]
    for a, b in zip(directions(11, cpu), directions(11, cuda), strict=True):
        assert b.is_cuda and torch.equal(a, b.cpu())


def test_frozen_parameters_are_not_trained():
    module = mlp()
    module[0].weight.requires_grad_(False)
    assert len(trained_parameters(module)) == 3


def test_perturbed_moves_and_restores_the_weights():
    module = mlp()
    before = flat(module).clone()
    with perturbed(module, seed=5, scale=0.1):
        moved = flat(module) - before
    z = torch.cat([t.flatten() for t in directions(5, trained_parameters(module))])
    assert torch.allclose(moved, 0.1 * z, atol=1e-6)
    assert torch.allclose(flat(module), before, atol=1e-6)


def test_pair_losses_measure_both_sides_and_restore():
    module = mlp()
    before = flat(module).clone()
    z = torch.cat([t.flatten() for t in directions(3, trained_parameters(module))])

    def loss(m):
        return float((flat(m) ** 2).sum())

    plus, minus = pair_losses(module, 3, 0.01, loss)
    assert plus == pytest.approx(float(((before + 0.01 * z) ** 2).sum()), rel=1e-5)
    assert minus == pytest.approx(float(((before - 0.01 * z) ** 2).sum()), rel=1e-5)
    assert torch.allclose(flat(module), before, atol=1e-6)


def test_exact_pair_losses_restore_bit_for_bit():
    module = mlp()
    before = flat(module).clone()
    for seed in range(20):
        pair_losses(module, seed, 0.37, lambda m: float(flat(m).sum()), exact=True)
    assert torch.equal(flat(module), before)


@pytest.mark.parametrize("exact", [False, True])
def test_pair_losses_restore_when_the_loss_raises(exact):
    module = mlp()
    before = flat(module).clone()

    def boom(m):
        raise RuntimeError("oom")

    with pytest.raises(RuntimeError):
        pair_losses(module, 3, 0.5, boom, exact=exact)
    assert torch.allclose(flat(module), before, atol=1e-6)


def steps(n: int) -> list[ZOLogStep]:
    return [
        ZOLogStep(step=t, lr=0.05, seeds=[10 * t + 1, 10 * t + 2], grads=[0.3 - t * 0.1, -0.2])
        for t in range(n)
    ]


def estimate(module: torch.nn.Module, entry: ZOLogStep) -> list[torch.Tensor]:
    params = trained_parameters(module)
    g = [torch.zeros_like(p) for p in params]
    for seed, c in zip(entry.seeds, entry.grads, strict=True):
        for buf, z in zip(g, directions(seed, params), strict=True):
            buf.add_(z, alpha=c)
    return g


def test_sgd_replay_is_plain_sgd_on_the_estimates():
    replayed, reference = mlp(), mlp()
    opt = torch.optim.SGD(reference.parameters(), lr=0.05)
    replayer = LogReplayer(replayed)
    for entry in steps(4):
        for p, g in zip(reference.parameters(), estimate(reference, entry), strict=True):
            p.grad = g
        opt.step()
        replayer.apply(entry)
    assert replayer.applied == 4
    assert torch.allclose(flat(replayed), flat(reference), atol=1e-6)


def test_adam_replay_matches_torch_adam_on_the_estimates():
    replayed, reference = mlp(), mlp()
    opt = torch.optim.Adam(reference.parameters(), lr=0.05, betas=(0.8, 0.99), eps=1e-6)
    replayer = LogReplayer(replayed, ZOOptimizer(name="adam", beta1=0.8, beta2=0.99, eps=1e-6))
    for entry in steps(5):
        for p, g in zip(reference.parameters(), estimate(reference, entry), strict=True):
            p.grad = g
        opt.step()
        replayer.apply(entry)
    assert torch.allclose(flat(replayed), flat(reference), atol=1e-5)


def test_replay_is_bitwise_deterministic_and_skips_applied_steps():
    a, b = mlp(), mlp()
    log = ZOLog(study_id=1, steps=6, since=0, optimizer=ZOOptimizer(name="adam"), entries=steps(6))
    ra = LogReplayer(a, log.optimizer)
    ra.apply_log(log, until=3)
    assert ra.applied == 3
    ra.apply_log(log)
    rb = LogReplayer(b, log.optimizer)
    rb.apply_log(log)
    assert torch.equal(flat(a), flat(b))


def test_replay_refuses_a_gap():
    replayer = LogReplayer(mlp())
    with pytest.raises(ValueError, match="log step 2"):
        replayer.apply(steps(3)[2])


def test_base_client_imports_without_torch():
    code = (
        "import sys\n"
        "import asktell_client, asktell_client.zo_types\n"
        "from asktell_client import Client\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
