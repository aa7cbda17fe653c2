import numpy as np
import torch

from lpsr.data.patches import PlatePatches
from lpsr.data.plates import PlateProtocol, load_plates


def test_patch_batches_are_aligned_and_deterministic(synthetic_root):
    plates = load_plates(synthetic_root, "train", PlateProtocol(), progress=False)
    patches = PlatePatches(plates, 64)
    lr, hr = patches.batch(16, torch.Generator().manual_seed(3))
    assert lr.shape == (16, 3, 8, 8) and hr.shape == (16, 3, 64, 64)
    assert lr.dtype == torch.float32 and 0 <= lr.min() and hr.max() <= 1
    lr2, hr2 = patches.batch(16, torch.Generator().manual_seed(3))
    assert torch.equal(lr, lr2) and torch.equal(hr, hr2)
    # the LR patch is the LR plate's window under the HR window
    lr_patch, hr_patch = patches.patch(0, 1, 2)
    assert np.array_equal(lr_patch, patches.lr[0][1:9, 2:10])
    assert np.array_equal(hr_patch, patches.hr[0][8:72, 16:80])


def test_small_plates_are_left_out(synthetic_root):
    plates = load_plates(synthetic_root, "train", PlateProtocol(), progress=False)
    patches = PlatePatches(plates, 64)
    assert len(patches) + patches.skipped == len(plates)
    assert all(min(hr.shape[:2]) >= 64 for hr in patches.hr)
