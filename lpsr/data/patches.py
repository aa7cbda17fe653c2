"""Training patches: random aligned (LR, HR) patch pairs from the train split's plates.

The LR plate is made once from the whole HR plate (lpsr.data.plates), and a patch pair is an
HR window of `patch_size` at a position on the scale grid with the LR window under it, so
training sees exactly the degradation that evaluation applies to whole plates. Plates are
drawn uniformly, then a position uniformly; no flips (plates carry text). Plates smaller
than a patch are left out of training (counted in `skipped`).
"""

from __future__ import annotations

import numpy as np
import torch

from lpsr.data.plates import PlateSet


class PlatePatches:
    def __init__(self, plates: PlateSet, patch_size: int = 64):
        scale = plates.protocol.scale
        if patch_size % scale:
            raise ValueError(f"patch size {patch_size} is not a multiple of the scale {scale}")
        self.scale, self.patch_size = scale, patch_size
        keep = [i for i, hr in enumerate(plates.hr) if min(hr.shape[:2]) >= patch_size]
        if not keep:
            raise ValueError(f"no plate is at least {patch_size} px a side; lower the patch size")
        self.hr = [plates.hr[i] for i in keep]
        self.lr = [plates.lr[i] for i in keep]
        self.skipped = len(plates) - len(keep)

    def __len__(self) -> int:
        return len(self.hr)

    def patch(self, plate: int, y: int, x: int) -> tuple[np.ndarray, np.ndarray]:
        """The (LR, HR) uint8 pair whose LR top-left corner is (y, x)."""
        p, s = self.patch_size // self.scale, self.scale
        return self.lr[plate][y : y + p, x : x + p], self.hr[plate][y * s : (y + p) * s, x * s : (x + p) * s]

    def batch(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch as float tensors in [0, 1]: LR (B, 3, p, p), HR (B, 3, p*s, p*s)."""
        p = self.patch_size // self.scale
        plates = torch.randint(len(self.hr), (batch_size,), generator=generator).tolist()
        corner = torch.rand((batch_size, 2), generator=generator, dtype=torch.float64).numpy()
        lrs, hrs = [], []
        for plate, (fy, fx) in zip(plates, corner):
            h, w = self.lr[plate].shape[:2]
            lr, hr = self.patch(plate, int(fy * (h - p + 1)), int(fx * (w - p + 1)))
            lrs.append(lr)
            hrs.append(hr)
        return _to_tensor(np.stack(lrs)), _to_tensor(np.stack(hrs))


def _to_tensor(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255)
