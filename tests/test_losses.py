import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lpsr.losses.pecl import LossWeights, PECLLoss, contrastive_step, contrastive_term, embedding_distance


def test_distances_on_hand_made_vectors():
    a = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0]])
    b = torch.tensor([[0.0, 1.0, 0.0], [0.6, 0.8, 0.0]])
    assert torch.allclose(embedding_distance(a, b, "l1"), torch.tensor([2.0, 0.0]))
    assert torch.allclose(embedding_distance(a, b, "l2"), torch.tensor([2**0.5, 0.0]), atol=1e-6)
    with pytest.raises(ValueError, match="unknown distance"):
        embedding_distance(a, b, "cosine")


def test_contrastive_readings_and_their_gradients():
    d = torch.tensor([0.5, 1.0], requires_grad=True)
    paper = contrastive_term(d, "paper", margin=2.0)
    assert paper.item() == pytest.approx(((2 - 0.5) ** 2 + (2 - 1.0) ** 2) / 2)
    (grad,) = torch.autograd.grad(paper, d)
    assert (grad < 0).all()  # descending the paper's term pushes D up (away from HR)
    positive = contrastive_term(d, "positive")
    assert positive.item() == pytest.approx((0.25 + 1.0) / 2)
    (grad,) = torch.autograd.grad(positive, d)
    assert (grad > 0).all()  # the similar-pair term pulls D down
    assert contrastive_term(torch.tensor([3.0]), "paper").item() == 0  # beyond the margin: nothing
    assert contrastive_term(d, "positive-linear").item() == pytest.approx(0.75)


def test_paper_weights_are_clipped_and_sum_to_one():
    weights = LossWeights("paper", w_pixel=0.5)
    total = weights.combine(torch.tensor(0.1), torch.tensor(2.0))
    assert total.item() == pytest.approx(0.5 * 0.1 + 0.5 * 2.0)
    (grad,) = torch.autograd.grad(total, weights.w)
    assert grad.item() == pytest.approx(0.1 - 2.0)  # descent moves weight to the smaller loss
    with torch.no_grad():
        weights.w.fill_(1.7)
    weights.clip_()
    assert weights.effective() == (1.0, 0.0)
    with torch.no_grad():
        weights.w.fill_(-0.3)
    weights.clip_()
    w_pixel, w_contrastive = weights.effective()
    assert (w_pixel, w_contrastive) == (0.0, 1.0) and w_pixel + w_contrastive == 1


def test_fixed_and_uncertainty_weights():
    fixed = LossWeights("fixed", w_pixel=0.8)
    assert not list(fixed.parameters())
    assert fixed.effective() == pytest.approx((0.8, 0.2))
    uncertainty = LossWeights("uncertainty", w_pixel=0.5)
    assert uncertainty.effective() == pytest.approx((0.5, 0.5))
    total = uncertainty.combine(torch.tensor(1.0), torch.tensor(1.0))
    s = uncertainty.log_var.detach()
    assert total.item() == pytest.approx(float(0.5 * torch.exp(-s).sum() + 0.5 * s.sum()))
    with pytest.raises(ValueError, match="unknown weighting"):
        LossWeights("magic")


class TinyEncoder(nn.Module):
    def __init__(self, trainable: bool):
        super().__init__()
        self.proj = nn.Linear(3 * 8 * 8, 16)
        self.requires_grad_(trainable)

    def forward(self, x):
        return F.normalize(self.proj(F.adaptive_avg_pool2d(x, 8).flatten(1)), dim=1)


def test_pecl_loss_with_a_frozen_encoder_trains_only_the_image():
    encoder = TinyEncoder(trainable=False)
    before = [p.clone() for p in encoder.parameters()]
    loss_fn = PECLLoss(encoder, distance="l1", reading="positive", weighting="fixed", w_pixel=0.5)
    sr = torch.rand(4, 3, 64, 64, requires_grad=True)
    hr = torch.rand(4, 3, 64, 64)
    total, terms = loss_fn(sr, hr)
    assert set(terms) == {"mse", "contrastive", "distance", "w_pixel", "w_contrastive"}
    assert total.item() == pytest.approx(0.5 * terms["mse"] + 0.5 * terms["contrastive"], rel=1e-5)
    total.backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0  # gradients reach the SR image
    assert all(p.grad is None for p in encoder.parameters())  # a frozen encoder gets no update
    optimizer = torch.optim.Adam([sr], lr=0.1)
    optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(before, encoder.parameters()))


def test_pecl_loss_with_a_trainable_encoder_and_mse_only():
    encoder = TinyEncoder(trainable=True)
    loss_fn = PECLLoss(encoder, weighting="paper")
    total, _ = loss_fn(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64))
    total.backward()
    assert all(p.grad is not None for p in encoder.parameters())
    assert loss_fn.weights.w.grad is not None
    mse_only = PECLLoss(None)
    total, terms = mse_only(torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4))
    assert total.item() == 1.0 and terms == {"mse": 1.0}


def test_worked_example_shows_which_way_each_reading_moves_d():
    torch.manual_seed(0)
    encoder, sr, hr = TinyEncoder(trainable=False), torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    positive = contrastive_step(encoder, sr, hr, "positive", "l1", step=1.0)
    paper = contrastive_step(encoder, sr, hr, "paper", "l1", margin=10.0, step=1.0)  # D < m: the hinge is active
    assert positive["D"] == pytest.approx(paper["D"])
    assert positive["dterm/dD"] > 0 and positive["D after one step"] < positive["D"]  # pulls SR towards HR
    assert paper["dterm/dD"] < 0 and paper["D after one step"] > paper["D"]  # pushes SR away from HR
    assert paper["term"] == pytest.approx((10.0 - paper["D"]) ** 2, rel=1e-2)
