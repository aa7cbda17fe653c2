import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Every test session prepares its own plates and synthetic frames."""
    cache = tmp_path_factory.mktemp("lpsr-cache")
    previous = os.environ.get("LPSR_CACHE")
    os.environ["LPSR_CACHE"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("LPSR_CACHE", None)
    else:
        os.environ["LPSR_CACHE"] = previous


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real data (LPSR_DATA, e.g. ../shared/data); CI always sets it."""
    value = os.environ.get("LPSR_DATA")
    if not value:
        pytest.skip("LPSR_DATA is not set: run `make test DATA=../shared/data`")
    path = Path(value)
    if not (path / "ccpd-mini").is_dir():
        pytest.fail(f"LPSR_DATA={path} holds no ccpd-mini/ folder")
    return path


@pytest.fixture(scope="session")
def ccpd_mini(shared_data) -> Path:
    return shared_data / "ccpd-mini"


@pytest.fixture(scope="session")
def synthetic_root(isolated_cache) -> Path:
    from lpsr.data.plates import data_root

    return data_root(None, synthetic_frames=120, seed=0)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, synthetic_root) -> tuple[Path, Path]:
    """One smoke-profile run (its folder, and the folder that holds it), trained once per session."""
    from lpsr.config import load_config
    from lpsr.training.train import train

    runs = tmp_path_factory.mktemp("runs")
    return train(load_config("smoke"), runs, progress=False), runs


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory) -> Path:
    """One run folder for the smoke book and `lpsr compare`: what one trains, the other reuses."""
    return tmp_path_factory.mktemp("smoke-runs")
