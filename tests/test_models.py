import pytest
import torch

from lpsr.models import build_model, count_parameters, parameters_by_block
from lpsr.models.lpsr import LPSR


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_shapes(scale):
    model = build_model("lpsr", scale)
    assert model(torch.rand(2, 3, 8, 8)).shape == (2, 3, 8 * scale, 8 * scale)
    assert model(torch.rand(1, 3, 6, 19)).shape == (1, 3, 6 * scale, 19 * scale)  # whole plates of any size


def test_parameter_count_matches_the_paper():
    n = count_parameters(build_model("lpsr", 8))
    print(f"LPSR x8: {n:,} parameters")
    assert n == 2_119_375  # paper: about 2M
    assert 1.9e6 < count_parameters(build_model("lpsr", 2)) < n
    blocks = parameters_by_block(build_model("lpsr", 8))
    assert sum(blocks.values()) == n and [k for k in blocks if k.startswith("upsample")] == [
        "upsample.0",
        "upsample.2",
        "upsample.4",
    ]  # log2(8) stages
    assert sum(k.startswith("blocks.") for k in blocks) == 8 and blocks["attention"] == 2 * 64 * 4 + 4 + 64  # eq. 9-10


def test_learnable_residual_scale_and_upsampling_stages():
    model = LPSR(scale=8, alpha_init=0.2)
    alphas = [block.alpha for block in model.blocks]
    assert len(alphas) == 8 and all(a.requires_grad and a.item() == pytest.approx(0.2) for a in alphas)
    transposed = [m for m in model.upsample if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(transposed) == 3  # log2(8)


def test_unsupported_scale_and_unknown_model():
    with pytest.raises(ValueError, match="supports scales"):
        build_model("lpsr", 3)
    with pytest.raises(ValueError, match="unknown model"):
        build_model("nope", 8)


def test_bicubic_has_no_parameters():
    model = build_model("bicubic", 8)
    assert count_parameters(model) == 0
    assert model(torch.rand(1, 3, 4, 5)).shape == (1, 3, 32, 40)
