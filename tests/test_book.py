"""End to end: the smoke book builds from the chapter notebooks, with its figures and table."""
import re

from lpsr.book import build_book, chapters


def test_smoke_book_builds(tmp_path, synthetic_root, smoke_runs):
    html = build_book(profile="smoke", data=None, runs_dir=smoke_runs, out=tmp_path / "build")
    assert (html / "index.html").is_file()
    for chapter in chapters():
        page = (html / f"{chapter}.html").read_text(encoding="utf-8")
        assert "Traceback" not in page
        assert len(re.findall(r"<img[^>]+\.png", page)) >= 2, f"{chapter}: figures missing"
        assert "<table" in page and "PSNR-Y" in page
        assert "What this shows" in page
    assert list(smoke_runs.glob("lpsr-*/done.json"))
    assert (tmp_path / "build" / "results" / "table1-smoke" / "table1.csv").is_file()
