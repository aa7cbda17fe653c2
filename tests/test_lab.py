"""Chapter 6 in JupyterLab, as a researcher uses it on a fresh clone (`make lab`, no runs yet): a
headless JupyterLab serves the chapter, Chromium opens it, runs every cell, the chapter shows the
released model beside bicubic without training, and picking another plate and another method in
the explorer widget changes the plate shown and its scores."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser import headless_chromium

from lpsr.study.book import PROJECT

CHAPTER = "06_qualitative.ipynb"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chapter_copy(folder: Path, runs_dir: Path) -> None:
    """The chapter with its run folder pointed at `runs_dir`."""
    nb = json.loads((PROJECT / "notebooks" / CHAPTER).read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    source = "".join(cell["source"]).replace('runs_dir = "../runs"', f"runs_dir = {str(runs_dir)!r}")
    assert str(runs_dir) in source, "the chapter's parameters cell no longer sets runs_dir"
    cell["source"] = source.splitlines(keepends=True)
    (folder / CHAPTER).write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")


def _wait(condition, timeout: float, what: str, poll: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server on a free localhost port serving a copy of chapter 6 whose run folder,
    `tmp_path/runs`, holds no run; (url, token)."""
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("JupyterLab is not installed (the book extra: pip install -e '.[book]')")
    if not Path("/usr/bin/chromium").is_file():
        pytest.skip("no /usr/bin/chromium (Debian's chromium and chromium-driver packages): JupyterLab check skipped")
    (tmp_path / "runs").mkdir()
    _chapter_copy(tmp_path, tmp_path / "runs")
    port, token = _free_port(), secrets.token_hex(16)
    command = [
        str(Path(sys.executable).parent / "jupyter-lab"),
        "--no-browser",
        "--allow-root",
        f"--ServerApp.port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={tmp_path}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run the cells through Lab's own command
        "--ServerApp.disable_check_xsrf=True",
    ]
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=os.environ | {"JUPYTER_NO_CONFIG": "1"}
    )
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5) as answer:
                return answer.status == 200
        except OSError:
            return server.poll() is not None and pytest.fail(f"JupyterLab exited: {(tmp_path / 'lab.log').read_text()}")

    try:
        _wait(up, 120, "JupyterLab to answer")
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_chapter_6_runs_in_jupyterlab_on_the_released_model_and_its_explorer_answers(lab, tmp_path):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from lpsr.evaluation.upscale import DEFAULT_MODEL

    url, token = lab
    driver = headless_chromium(page_timeout=180, window="1400,1000")
    try:
        driver.get(f"{url}/lab/tree/{CHAPTER}?token={token}")
        _wait(
            lambda: driver.execute_script(
                "const app = window.jupyterapp; const w = app && app.shell.currentWidget;"
                "return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
                " && w.sessionContext.session.kernel.status === 'idle');"
            ),
            180,
            "the chapter's kernel to start",
        )
        driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
        # the explorer is the chapter's widget: a plate dropdown, method buttons, the plate image, the scores

        def explorer_shown():
            """Whether the explorer shows a plate; a cell that failed fails the test at once."""
            errors = driver.find_elements(By.CSS_SELECTOR, "[data-mime-type='application/vnd.jupyter.stderr']")
            failed = [e.text for e in errors if "Error" in e.text]
            assert not failed, f"a cell failed in JupyterLab: {failed[0][-2000:]}"
            return any("PSNR-Y" in e.text for e in driver.find_elements(By.CSS_SELECTOR, ".widget-html pre"))

        _wait(explorer_shown, 900, "the explorer to show a plate", poll=5)

        def view():
            """(image source, scores line) as shown, or None while the widget is being redrawn."""
            try:
                image = driver.find_element(By.CSS_SELECTOR, "img.widget-image")
                return image.get_attribute("src"), driver.find_element(By.CSS_SELECTOR, ".widget-html pre").text
            except (StaleElementReferenceException, NoSuchElementException):
                return None

        def changed(before):
            """The view once both its image and its scores differ from `before` (they arrive as two messages)."""
            shown = view()
            return shown if shown and shown[0] != before[0] and shown[1] != before[1] else None

        first_image, first_scores = _wait(view, 60, "the explorer's view")
        assert "OCR reads" in first_scores and first_image

        def pick(choose):
            """Run `choose` on the widget as shown now; None (to try again) while it is being redrawn."""
            try:
                return choose() or True
            except (StaleElementReferenceException, NoSuchElementException):
                return None

        def another_method():
            buttons = driver.find_elements(By.CSS_SELECTOR, ".widget-toggle-button")
            other = next(b for b in buttons if "mod-active" not in (b.get_attribute("class") or ""))
            name = other.text.strip()
            other.click()
            return name

        _wait(
            lambda: pick(
                lambda: Select(driver.find_element(By.CSS_SELECTOR, ".widget-dropdown select")).select_by_index(1)
            ),
            60,
            "the plate dropdown",
        )
        second_image, second_scores = _wait(
            lambda: changed((first_image, first_scores)), 120, "another plate's image and scores"
        )

        method = _wait(lambda: pick(another_method), 60, "the method buttons")
        _, third_scores = _wait(
            lambda: changed((second_image, second_scores)), 120, "another method's image and scores"
        )
        assert third_scores.startswith(f"{method}:")
        assert {method, first_scores.split(":")[0]} == {"bicubic", DEFAULT_MODEL}
        assert not list((tmp_path / "runs").iterdir()), "the chapter trained with the released model at hand"
        stderr = driver.find_elements(By.CSS_SELECTOR, "[data-mime-type='application/vnd.jupyter.stderr']")
        assert not [e.text for e in stderr if "Error" in e.text], "a cell failed in JupyterLab"
    finally:
        driver.quit()
