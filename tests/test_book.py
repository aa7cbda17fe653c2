"""End to end: the smoke book builds from the chapter notebooks, with its figures and tables, and
opens in headless Chromium without console errors."""
import re
from pathlib import Path

import pandas as pd
import pytest

from lpsr.book import browser_check, build_book, chapters


def test_smoke_book_builds(tmp_path, synthetic_root, smoke_runs, shared_data):
    html = build_book(profile="smoke", data=None, runs_dir=smoke_runs, out=tmp_path / "build", small_plates=shared_data / "plates-94x24", cell_timeout=900)
    assert (html / "index.html").is_file()
    for chapter in chapters():
        page = (html / f"{chapter}.html").read_text(encoding="utf-8")
        assert "Traceback" not in page
        assert len(re.findall(r"<img[^>]+\.png", page)) >= 2, f"{chapter}: figures missing"
        assert "<table" in page and "PSNR" in page
        assert "What this shows" in page
    assert list(smoke_runs.glob("lpsr-*/done.json"))
    assert re.search(r"This build trained [1-9]\d* runs", (html / "book" / "intro.html").read_text(encoding="utf-8"))
    assert (tmp_path / "build" / "results" / "table1-smoke" / "table1.csv").is_file()
    ablation = pd.read_csv(tmp_path / "build" / "results" / "ablation-smoke" / "ablation.csv", index_col="name")
    assert ablation["val_psnr_y"].notna().all()  # the variant set against MSE is chosen on these
    assert "real 94×24 crops" in (html / "notebooks" / "07_beyond.html").read_text(encoding="utf-8")
    if not Path("/usr/bin/chromium").is_file():
        pytest.skip("no /usr/bin/chromium (Debian's chromium and chromium-driver packages): browser check skipped")
    screenshot = tmp_path / "index.png"
    assert browser_check(html, screenshot) == {}  # no page logs a console error
    assert screenshot.stat().st_size > 10_000
