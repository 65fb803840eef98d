"""The PFN surrogate: prior, bar distribution, transformer, training, checkpoints, CLI.

Only a tiny model is trained (seconds); these tests check plumbing, never quality.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from asktell.surrogates.pfn.bar import BarDistribution, make_borders
from asktell.surrogates.pfn.cli import pfn_app
from asktell.surrogates.pfn.model import PFN, PFNConfig, load_pfn, save_pfn
from asktell.surrogates.pfn.prior import sample_batch
from asktell.surrogates.pfn.surrogate import PFNModel, PFNPosterior
from asktell.surrogates.pfn.train import TrainConfig, compute_borders, prior_batch, train

torch.set_num_threads(1)

TINY = PFNConfig(
    max_dim=4, max_ctx=20, seq_len=32, emsize=32, nhead=2, nlayers=2, nhid=64, num_buckets=64
)


def heldout_nll(model: PFN, seed: int = 123, batches: int = 8) -> float:
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    with torch.no_grad():
        for _ in range(batches):
            x_c, y_c, x_q, y_q = prior_batch(model.config, 32, gen)
            total += float(model.bar.nll(model(x_c, y_c, x_q), y_q.clamp(-100, 100)).mean())
    return total / batches


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("pfn")
    tcfg = TrainConfig(steps=150, batch_size=16, lr=3e-3, checkpoint_every=100, border_batches=10)
    model, meta = train(TINY, tcfg, out)
    return model, meta, out


def test_prior_shapes_and_unused_dimensions():
    gen = torch.Generator().manual_seed(0)
    batch = sample_batch(64, 30, 10, 5, gen)
    assert batch.x.shape == (64, 30, 5) and batch.y.shape == (64, 30)
    assert torch.isfinite(batch.y).all()
    absent = torch.arange(5)[None, :] >= batch.d[:, None]
    assert (batch.x[absent.unsqueeze(1).expand_as(batch.x)] == 0).all()
    assert torch.isinf(batch.lengthscale[absent]).all()
    assert (torch.isfinite(batch.lengthscale).sum(-1) >= 1).all()
    assert (batch.noise > 0).all() and (batch.outputscale > 0).all()
    fixed = sample_batch(4, 8, 2, 10, gen, d=3)
    assert (fixed.d == 3).all()


def test_borders_are_clipped_and_increasing():
    heavy = torch.distributions.StudentT(1.0).sample((50_000,))
    borders = make_borders(heavy, 100, clip=10.0)
    assert borders.shape == (101,)
    assert borders[0] == -10.0 and borders[-1] == 10.0
    assert (borders[1:] > borders[:-1]).all()
    gen = torch.Generator().manual_seed(0)
    assert compute_borders(TINY, gen, n_batches=4).abs().max() <= TINY.border_clip


def test_bar_distribution_is_consistent():
    torch.manual_seed(0)
    bar = BarDistribution(make_borders(torch.randn(10_000) * 2, 40, 6.0))
    logits = torch.randn(3, 40)
    ys = torch.linspace(-60, 60, 200_001)
    density = torch.exp(-bar.nll(logits[0].expand(len(ys), 40), ys))
    assert torch.trapezoid(density, ys) == pytest.approx(1.0, abs=1e-3)
    samples = bar.icdf(logits, torch.rand(200_000, 3))
    mean, var = bar.mean_var(logits)
    assert torch.allclose(samples.mean(0), mean, atol=0.05)
    assert torch.allclose(samples.var(0), var, rtol=0.05)
    for best in (-8.0, 0.0, 3.0):
        mc = (samples - best).clamp_min(0).mean(0)
        assert torch.allclose(bar.log_ei(logits, best).exp(), mc, rtol=0.05, atol=1e-3)
    assert torch.allclose(
        bar.cdf(logits, torch.tensor(0.5)), (samples <= 0.5).float().mean(0), atol=0.01
    )
    far = bar.log_ei(logits, 500.0)
    assert torch.isfinite(far).all() and (far < -100).all()


def test_model_shapes_and_attention_mask():
    torch.manual_seed(0)
    model = PFN(TINY).eval()
    x_c, y_c, x_q = torch.rand(2, 7, 3), torch.randn(2, 7), torch.rand(2, 5, 3)
    with torch.no_grad():
        logits = model(x_c, y_c, x_q)
        assert logits.shape == (2, 5, TINY.num_buckets)
        alone = model(x_c, y_c, x_q[:, :1])  # queries do not see each other
        assert torch.allclose(alone[:, 0], logits[:, 0], atol=1e-5)
    with pytest.raises(ValueError):
        model(torch.rand(1, 3, 5), torch.randn(1, 3), torch.rand(1, 2, 5))


def test_training_lowers_the_loss_and_beats_an_untrained_model(trained):
    model, meta, _ = trained
    losses = [loss for _, loss in meta["losses"]]
    assert meta["step"] == 150 and meta["datasets_seen"] == 150 * 16
    assert losses[-1] < losses[0]
    torch.manual_seed(0)
    untrained = PFN(TINY, model.bar.borders).eval()
    assert heldout_nll(model) < heldout_nll(untrained)


def test_checkpoint_round_trip_is_safetensors(trained, tmp_path):
    model, _, out = trained
    assert set(load_file(str(out / "model.safetensors"))) == set(model.state_dict())
    save_pfn(model, tmp_path, {"step": 5})
    loaded, doc = load_pfn(tmp_path)
    assert doc["step"] == 5 and doc["config"]["emsize"] == TINY.emsize
    x_c, y_c, x_q = torch.rand(1, 6, 2), torch.randn(1, 6), torch.rand(1, 4, 2)
    with torch.no_grad():
        assert torch.equal(model(x_c, y_c, x_q), loaded(x_c, y_c, x_q))
    assert torch.equal(loaded.bar.borders, model.bar.borders)


def test_resume_continues_from_the_checkpoint(tmp_path):
    train(TINY, TrainConfig(steps=10, batch_size=4, checkpoint_every=5, border_batches=2), tmp_path)
    _, meta = train(TINY, TrainConfig(steps=15, batch_size=4), tmp_path, resume=True)
    assert meta["step"] == 15 and meta["datasets_seen"] == 60
    assert (tmp_path / "optimizer.safetensors").exists()


def test_botorch_model_posterior(trained):
    model = trained[0]
    X = torch.rand(8, 3, dtype=torch.double)
    Y = torch.stack([X.sum(-1) * 100, -X[:, 0]], dim=-1)
    surrogate = PFNModel(model, X, Y)
    assert surrogate.num_outputs == 2
    post = surrogate.posterior(torch.rand(5, 2, 3, dtype=torch.double))
    assert isinstance(post, PFNPosterior)
    assert post.mean.shape == (5, 2, 2) and post.variance.shape == (5, 2, 2)
    assert (post.variance > 0).all()
    assert post.rsample(torch.Size([7])).shape == (7, 5, 2, 2)
    one = surrogate.posterior(torch.rand(4, 3, dtype=torch.double), output_indices=[1])
    assert one.mean.shape == (4, 1)
    assert post.mean[..., 0].abs().max() < 1e4  # back in output units, not exploded


def test_cli_train_writes_a_checkpoint(tmp_path):
    out = tmp_path / "ckpt"
    tiny = {
        "--batch-size": 4,
        "--emsize": 16,
        "--nlayers": 1,
        "--nhid": 32,
        "--num-buckets": 32,
        "--max-dim": 3,
        "--max-ctx": 10,
        "--seq-len": 16,
        "--nhead": 2,
        "--border-batches": 2,
    }
    args = [
        "train",
        "--out",
        str(out),
        "--steps",
        "3",
        *(str(v) for kv in tiny.items() for v in kv),
    ]
    result = CliRunner().invoke(pfn_app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "config.json").read_text())
    assert doc["step"] == 3 and doc["config"]["max_dim"] == 3
    resumed = CliRunner().invoke(pfn_app, [*args[:4], "6", *args[5:], "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((out / "config.json").read_text())["step"] == 6
    bad = CliRunner().invoke(pfn_app, [*args, "--prior", "nope"])
    assert bad.exit_code != 0
    assert math.isfinite(doc["losses"][-1][1])


def test_warm_restart_starts_a_fresh_schedule(trained, tmp_path):
    _, meta, out = trained
    tcfg = TrainConfig(steps=5, batch_size=4, dim_curriculum=3)
    model, doc = train(TINY, tcfg, tmp_path, init_from=out)
    assert doc["step"] == 5 and doc["init"]["step"] == meta["step"]
    assert torch.equal(model.bar.borders, trained[0].bar.borders)
