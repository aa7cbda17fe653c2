"""The pixel and embedding consistency loss (PECL, paper sec. 3.3), in every reading.

    L_PECL = w_pixel * L_pixel + w_contrastive * L_contrastive            (eq. 19)
    L_pixel = MSE(SR, HR)                                                 (eq. 14)
    D = || V~_SR - V~_HR ||_1  (or _2),  V~ = V / ||V||_2                 (eq. 16, 18)

Where the paper is ambiguous (study notes §2) each reading is a setting:

- contrastive term (`reading`):
  - ``paper``: max(m - D, 0)^2 exactly as eq. 17 (m = 2). This is the *dissimilar-pair* term of
    Hadsell, Chopra and LeCun's contrastive loss: below the margin its gradient pushes D *up*,
    i.e. it drives SR embeddings away from HR ones.
  - ``positive``: D^2, the similar-pair term, which pulls D down as the paper's prose intends.
  - ``positive-linear``: D.
- weights (`weighting`):
  - ``fixed``: w_pixel given, w_contrastive = 1 - w_pixel.
  - ``paper``: one learnable w in [0, 1] (clipped after each step), w_pixel = w,
    w_contrastive = 1 - w. Plain gradient descent moves all weight to the smaller loss.
  - ``uncertainty``: Kendall, Gal and Cipolla (2018): sum_i L_i / (2 sigma_i^2) + log sigma_i,
    with s_i = log sigma_i^2 learned; the effective weights are 1 / (2 sigma_i^2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lpsr.config import DISTANCES, READINGS, WEIGHTINGS  # the accepted values, declared with the settings


def embedding_distance(a: torch.Tensor, b: torch.Tensor, distance: str = "l1") -> torch.Tensor:
    """Per-sample distance between embeddings: Manhattan (eq. 18) or Euclidean."""
    if distance == "l1":
        return (a - b).abs().sum(dim=1)
    if distance == "l2":
        return (a - b).pow(2).sum(dim=1).clamp_min(1e-12).sqrt()
    raise ValueError(f"unknown distance {distance!r}; choose one of {DISTANCES}")


def contrastive_term(d: torch.Tensor, reading: str = "positive", margin: float = 2.0) -> torch.Tensor:
    """The contrastive loss of per-sample distances `d`, averaged over the batch."""
    if reading == "paper":
        return torch.clamp(margin - d, min=0).pow(2).mean()  # eq. 17 as written
    if reading == "positive":
        return d.pow(2).mean()
    if reading == "positive-linear":
        return d.mean()
    raise ValueError(f"unknown contrastive reading {reading!r}; choose one of {READINGS}")


def contrastive_step(
    encoder: nn.Module,
    sr: torch.Tensor,
    hr: torch.Tensor,
    reading: str = "positive",
    distance: str = "l1",
    margin: float = 2.0,
    step: float = 0.5,
) -> dict[str, float]:
    """A worked example of one reading: the contrastive term on SR/HR patches (B, 3, H, W), its
    slope in D, and the mean D after one step of pixel-norm `step` down the term's gradient on
    SR alone, i.e. which way the reading moves the SR embedding relative to the HR one."""
    sr = sr.detach().clone().requires_grad_(True)
    with torch.no_grad():
        v_hr = encoder(hr)
    d = embedding_distance(encoder(sr), v_hr, distance)
    term = contrastive_term(d, reading, margin)
    slope, grad = torch.autograd.grad(term, [d, sr])
    with torch.no_grad():
        moved = (sr - step * grad / grad.norm().clamp_min(1e-12)).clamp(0, 1)
        after = embedding_distance(encoder(moved), v_hr, distance)
    return {
        "D": d.mean().item(),
        "term": term.item(),
        "dterm/dD": slope.sum().item(),
        "D after one step": after.mean().item(),
    }


class LossWeights(nn.Module):
    """w_pixel and w_contrastive under one of the weighting schemes (eq. 19)."""

    def __init__(self, weighting: str = "fixed", w_pixel: float = 0.5):
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ValueError(f"unknown weighting {weighting!r}; choose one of {WEIGHTINGS}")
        if not 0 <= w_pixel <= 1:
            raise ValueError(f"w_pixel must lie in [0, 1], got {w_pixel}")
        self.weighting = weighting
        if weighting == "fixed":
            self.register_buffer("w", torch.tensor(float(w_pixel)))
        elif weighting == "paper":
            self.w = nn.Parameter(torch.tensor(float(w_pixel)))
        else:  # s_i = log sigma_i^2, starting at weights 1/(2 sigma^2) = w_pixel, 1 - w_pixel
            s = torch.log(1 / (2 * torch.tensor([w_pixel, 1 - w_pixel]).clamp_min(1e-3)))
            self.log_var = nn.Parameter(s)

    def combine(self, pixel: torch.Tensor, contrastive: torch.Tensor) -> torch.Tensor:
        if self.weighting == "uncertainty":
            precision = 0.5 * torch.exp(-self.log_var)
            return precision[0] * pixel + precision[1] * contrastive + 0.5 * self.log_var.sum()
        return self.w * pixel + (1 - self.w) * contrastive

    def effective(self) -> tuple[float, float]:
        """(w_pixel, w_contrastive) as applied to the two loss terms."""
        if self.weighting == "uncertainty":
            precision = 0.5 * torch.exp(-self.log_var.detach())
            return float(precision[0]), float(precision[1])
        w = float(self.w.detach())
        return w, 1 - w

    @torch.no_grad()
    def clip_(self) -> None:
        """The paper's constraint: keep w in [0, 1] (call after each optimiser step)."""
        if self.weighting == "paper":
            self.w.clamp_(0, 1)


class TrainingLoss(nn.Module):
    """What the training loop asks of a loss (PECL here; ESRGAN's and TBSRN's recipes in
    lpsr.losses.esrgan and lpsr.losses.text_focus).

    ``loss(sr, hr, iteration=..., model=..., generator=...)`` returns (total, terms) where
    terms are floats to log; a loss uses the context it needs and ignores the rest.
    ``after_step(sr, hr)`` runs after the SR model's optimiser step (PECL's weight clipping, a
    GAN's discriminator update) and returns more terms to log. ``trainable`` lists the loss's
    own parameters that the optimiser trains with the SR model. ``encoder`` is a frozen network the loss rebuilds
    from its initialisation (it is not checkpointed; its ``encoder_fingerprint``, the
    weights and how they were set up, enters the run id);
    ``weights`` are the loss weights (PECL's LossWeights), or None.
    ``lr_cap(iteration)`` is the most lr the SR model may train at then (a GAN phase's own
    lr), or None to follow the schedule. ``selectable(done)`` says whether the checkpoint after
    `done` iterations may be selected as the run's best.
    """

    def __init__(self):
        super().__init__()
        self.encoder: nn.Module | None = None
        self.weights: LossWeights | None = None

    @property
    def trainable(self) -> list[nn.Parameter]:
        """The loss's own parameters the optimiser trains with the SR model (learnable weights, a trainable encoder)."""
        return [p for p in self.parameters() if p.requires_grad]

    def after_step(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        return {}

    def lr_cap(self, iteration: int) -> float | None:
        return None

    def selectable(self, done: int) -> bool:
        return True


class PECLLoss(TrainingLoss):
    """PECL with a Siamese encoder shared by SR and HR; `encoder=None` gives plain MSE."""

    def __init__(
        self,
        encoder: nn.Module | None = None,
        distance: str = "l1",
        reading: str = "positive",
        margin: float = 2.0,
        weighting: str = "fixed",
        w_pixel: float = 0.5,
    ):
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"unknown distance {distance!r}; choose one of {DISTANCES}")
        if reading not in READINGS:
            raise ValueError(f"unknown contrastive reading {reading!r}; choose one of {READINGS}")
        self.encoder = encoder
        self.distance, self.reading, self.margin = distance, reading, margin
        self.weights = LossWeights(weighting, w_pixel) if encoder is not None else None

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, **context) -> tuple[torch.Tensor, dict[str, float]]:
        pixel = F.mse_loss(sr, hr)  # eq. 14
        if self.encoder is None:
            return pixel, {"mse": pixel.item()}
        frozen = not any(p.requires_grad for p in self.encoder.parameters())
        with torch.set_grad_enabled(not frozen):  # a frozen encoder needs no graph on the HR branch
            v_hr = self.encoder(hr)
        v_sr = self.encoder(sr)  # eq. 15-16 (shared weights, L2-normalised)
        d = embedding_distance(v_sr, v_hr, self.distance)
        contrastive = contrastive_term(d, self.reading, self.margin)
        total = self.weights.combine(pixel, contrastive)
        w_pixel, w_contrastive = self.weights.effective()
        terms = {
            "mse": pixel.item(),
            "contrastive": contrastive.item(),
            "distance": d.mean().item(),
            "w_pixel": w_pixel,
            "w_contrastive": w_contrastive,
        }
        return total, terms

    def after_step(self, sr: torch.Tensor, hr: torch.Tensor) -> dict[str, float]:
        if self.weights is not None:
            self.weights.clip_()  # the paper's weights stay in [0, 1]
        return {}
