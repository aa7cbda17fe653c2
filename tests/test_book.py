"""End to end: the smoke book builds from the chapter notebooks, with its figures and tables, and
opens in headless Chromium without console errors."""

import re
from pathlib import Path

import pandas as pd
import pytest
from browser import browser_check

from lpsr.study.book import build_book, chapters


def test_smoke_book_builds(tmp_path, synthetic_root, smoke_runs, shared_data):
    html = build_book(
        profile="smoke",
        data=None,
        runs_dir=smoke_runs,
        out=tmp_path / "build",
        small_plates=shared_data / "plates-94x24",
    )
    assert (html / "index.html").is_file()
    for chapter in chapters():
        page = (html / f"{chapter}.html").read_text(encoding="utf-8")
        assert "Traceback" not in page
        assert len(re.findall(r"<img[^>]+\.png", page)) >= 2, f"{chapter}: figures missing"
        assert "<table" in page and "PSNR" in page
        assert "What this shows" in page
    assert list(smoke_runs.glob("lpsr-*/done.json"))
    intro = (html / "book" / "intro.html").read_text(encoding="utf-8")
    assert re.search(r"This build trained [1-9]\d* runs", intro)
    # the findings table opens the intro: a row per claim, each linking the chapter that measured it
    findings = intro[intro.index('id="findings"') : intro.index("This build trained")]
    for chapter in ("03_comparison", "04_ablation", "05_dynamics", "06_qualitative", "09_budget"):
        assert f'href="../notebooks/{chapter}.html"' in findings, chapter
    assert (
        len(re.findall(r"<strong>(?:reproduced|not reproduced|inconclusive|not testable here)</strong>", findings))
        >= 10
    )
    assert (tmp_path / "build" / "results" / "table1-smoke" / "table1.csv").is_file()
    ablation = pd.read_csv(tmp_path / "build" / "results" / "ablation-smoke" / "ablation.csv", index_col="name")
    assert ablation["val_psnr_y"].notna().all()  # the variant set against MSE is chosen on these
    assert "real 94×24 crops" in (html / "notebooks" / "07_beyond.html").read_text(encoding="utf-8")
    budget = " ".join(
        re.sub(r"<[^>]+>", "", (html / "notebooks" / "09_budget.html").read_text(encoding="utf-8")).split()
    )  # text, glue spans dropped
    assert "The contrastive weight" in budget and "Validation selects L" in budget  # the weight sweep, its verdict
    assert "At its best contrastive weight" in findings
    if not Path("/usr/bin/chromium").is_file():
        pytest.skip("no /usr/bin/chromium (Debian's chromium and chromium-driver packages): browser check skipped")
    screenshot = tmp_path / "index.png"
    assert browser_check(html, screenshot) == {}  # no console error, overflow, uncaptioned figure, machine path or nan
    assert screenshot.stat().st_size > 10_000


def _chapter(path: Path, *sources: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {path.stem}")])
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nb.cells[1].metadata["tags"] = ["parameters"]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _project(tmp_path: Path, names: list[str]) -> Path:
    """A book project with the book's _config.yml, an intro and the notebook chapters `names`."""
    import shutil

    from lpsr.study.book import PROJECT

    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    shutil.copy(PROJECT / "_config.yml", project)
    (project / "book").mkdir()
    (project / "book" / "intro.md").write_text("# Intro\n", encoding="utf-8")
    files = "".join(f"      - file: notebooks/{name}\n" for name in names)
    (project / "_toc.yml").write_text(  # in parts, as the book's own
        f"format: jb-book\nroot: book/intro\nparts:\n  - caption: Chapters\n    numbered: true\n    chapters:\n{files}",
        encoding="utf-8",
    )
    return project


def test_an_unchanged_chapter_is_reused_and_a_changed_one_runs_again(tmp_path):
    import json

    project, ran = _project(tmp_path, ["one"]), tmp_path / "ran"
    count = f"from pathlib import Path\nran = Path({str(ran)!r})\nran.write_text(ran.read_text() + 'x' if ran.exists() else 'x')"
    _chapter(project / "notebooks" / "one.ipynb", 'profile = "smoke"', count)
    build = dict(runs_dir=tmp_path / "runs", out=tmp_path / "build", project=project)
    build_book("smoke", **build)
    build_book("smoke", **build)
    assert ran.read_text() == "x"  # the second build reused the executed chapter
    builds = json.loads((tmp_path / "build" / "builds.json").read_text())
    assert [b["reused"] for b in builds] == [[], ["notebooks/one"]]
    assert "Reproduce this page" in (tmp_path / "build" / "html" / "notebooks" / "one.html").read_text()
    _chapter(project / "notebooks" / "one.ipynb", 'profile = "smoke"', count, "print('changed')")
    build_book("smoke", **build)
    assert ran.read_text() == "xx"  # a changed notebook runs again
    build_book("smoke", **build, rerun=True)
    assert ran.read_text() == "xxx"


def test_a_chapters_key_follows_its_data_folders_split_files_and_frame_folders(tmp_path):
    import os

    from lpsr.study.book import chapter_key

    project = _project(tmp_path, ["one"])
    _chapter(project / "notebooks" / "one.ipynb", 'profile = "smoke"', "pass")
    (project / "lpsr").mkdir()
    root = tmp_path / "ccpd"
    (root / "ccpd_base").mkdir(parents=True)
    (root / "splits").mkdir()
    (root / "ccpd_base" / "a.jpg").write_bytes(b"a")
    (root / "splits" / "train.txt").write_text("ccpd_base/a.jpg\n")
    parameters = {"profile": "smoke", "data_root": str(root)}
    keys = [chapter_key(project, "notebooks/one", parameters)]
    assert chapter_key(project, "notebooks/one", parameters) == keys[0]
    (root / "splits" / "train.txt").write_text("ccpd_base/a.jpg\nccpd_base/b.jpg\n")  # a split edited
    keys.append(chapter_key(project, "notebooks/one", parameters))
    (root / "ccpd_base" / "b.jpg").write_bytes(b"b")  # a frame added: its folder's mtime moves
    os.utime(root / "ccpd_base", ns=(1, 1))
    keys.append(chapter_key(project, "notebooks/one", parameters))
    assert len(set(keys)) == 3


def test_a_stalled_chapter_stops_with_its_cell_named_and_keeps_the_chapters_before_it(tmp_path, capsys):
    from lpsr.study.book import BookError

    project = _project(tmp_path, ["one", "two"])
    _chapter(project / "notebooks" / "one.ipynb", 'profile = "smoke"', "print('chapter one ran')")
    _chapter(project / "notebooks" / "two.ipynb", 'profile = "smoke"', "x = 1", "import time\ntime.sleep(120)")
    with pytest.raises(
        BookError,
        match=r"chapter notebooks/two stopped: cell 4 \('import time'.*cell timeout of 3 s.*1 chapters before it are built",
    ):
        build_book("smoke", runs_dir=tmp_path / "runs", out=tmp_path / "build", project=project, cell_timeout=3)
    printed = capsys.readouterr().out  # the precision first, then where the build is
    assert printed.startswith("the smoke profile trains in fp32 on ") and "(set false)" in printed
    assert re.search(r"running notebooks/two \(smoke\), chapter 2 of 2, \d+ min so far", printed)
    page = (tmp_path / "build" / "html" / "notebooks" / "one.html").read_text(encoding="utf-8")
    assert "chapter one ran" in page
    assert "Reproduce this page" in page and "notebooks/one.ipynb" in page  # the closing box
    assert "synthetic CCPD-format frames: its numbers are not about CCPD" in page  # the banner
    assert str(tmp_path) not in page  # papermill's injected cell, with this machine's paths, is hidden
    assert not (tmp_path / "build" / "html" / "notebooks" / "two.html").exists()
