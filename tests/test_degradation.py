import cv2
import numpy as np
import pytest

from lpsr.study.degradation_maps import blockiness_map, blur_map, degradation_maps, noise_map


def _texture(seed=0, size=(48, 144)):
    """A sharp synthetic 'plate': bars and blocks of two grey levels, RGB uint8."""
    rng = np.random.default_rng(seed)
    grey = np.kron(rng.integers(0, 2, (size[0] // 6, size[1] // 6)), np.ones((6, 6))) * 180 + 40
    return np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)


def test_noise_map_recovers_the_added_noise_level_on_a_flat_image():
    rng = np.random.default_rng(0)
    for sigma in (2.0, 8.0):
        image = np.clip(128 + rng.normal(0, sigma, (96, 96)), 0, 255)
        estimate = np.median(noise_map(image))
        assert estimate == pytest.approx(sigma, rel=0.15)
    assert noise_map(np.full((32, 32), 100.0)).max() == pytest.approx(0.0)


def test_blur_map_rises_with_blur_and_is_nan_on_flat_areas():
    sharp = _texture()
    blurred = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    assert np.nanmedian(blur_map(blurred)) > np.nanmedian(blur_map(sharp)) + 0.2
    assert 0 <= np.nanmin(blur_map(blurred)) and np.nanmax(blur_map(blurred)) <= 1
    assert np.isnan(blur_map(np.full((32, 32), 50.0))).all()


def test_blockiness_map_sees_an_8_pixel_grid():
    rng = np.random.default_rng(1)
    smooth = cv2.GaussianBlur(rng.uniform(0, 255, (64, 64)), (0, 0), 3.0)
    blocky = np.kron(smooth[::8, ::8], np.ones((8, 8)))  # nearest-neighbour x8: pure 8x8 blocks
    assert np.median(blockiness_map(blocky)) > 3 * np.median(blockiness_map(smooth))
    assert np.median(blockiness_map(smooth)) == pytest.approx(1.0, abs=0.2)


def test_degradation_maps_have_the_image_size():
    maps = degradation_maps(_texture())
    assert set(maps) == {"noise", "blur", "compression"}
    assert all(m.shape == (48, 144) for m in maps.values())
