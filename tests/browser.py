"""Headless Chromium for the tests that read what a reader sees: the built book's pages
(`browser_check`, tests/test_book.py) and chapter 6 in JupyterLab (tests/test_lab.py). Debian's
`chromium` and `chromium-driver` packages (`make browser`) and selenium (the dev extra)."""

from __future__ import annotations

from pathlib import Path


def headless_chromium(
    chromium: str = "/usr/bin/chromium",
    chromedriver: str = "/usr/bin/chromedriver",
    page_timeout: int = 120,
    window: str = "1280,1600",
):
    """A selenium driver of headless Chromium (Debian's `chromium` and `chromium-driver` packages)
    that keeps the browser's console log; a FileNotFoundError names the packages when they are missing."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for program in (chromium, chromedriver):
        if not Path(program).is_file():
            raise FileNotFoundError(
                f"{program} not found: install Debian's chromium and chromium-driver packages (apt-get install chromium chromium-driver)"
            )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # --disable-dev-shm-usage: a container's small /dev/shm can crash or stall Chromium's renderer;
    # no background networking: this machine reaches nothing but localhost
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--window-size={window}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(page_timeout)
    return driver


# What a reader should never see on a page: a path of the machine that built it, an undefined
# number, a difference that rounds to zero printed with a sign and an interval
FORBIDDEN_TEXT = {"/tmp/": "a /tmp/ path", "/root/": "a /root/ path", "-0.00 [": "a -0.00 [...] interval"}
_PAGE_PROBLEMS = """
const problems = [];
const root = document.documentElement;
if (root.scrollWidth > root.clientWidth + 1) problems.push(`page ${root.scrollWidth} px wide in a ${root.clientWidth} px window`);
const column = document.querySelector("article.bd-article") || document.body;
const width = column.clientWidth;
column.querySelectorAll("table").forEach((table, i) => {
  if (table.scrollWidth > width + 1) problems.push(`table ${i + 1} is ${table.scrollWidth} px in a ${width} px column`);
});
column.querySelectorAll("img").forEach((img) => {
  const src = img.getAttribute("src") || "";
  if (!src.endsWith(".png")) return;
  const figure = img.closest("figure");
  const number = figure && figure.querySelector("figcaption .caption-number");
  if (!number) problems.push(`figure ${src.split("/").pop()} has no number and caption`);
});
const text = column.innerText;
if (/\bnan\b/i.test(text)) problems.push("the text holds nan");
return [problems, text];
"""


def _serve(folder: Path):
    """An HTTP server of `folder` on a free localhost port, in a thread; (server, url)."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # the pages' requests are not news
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def browser_check(
    html: str | Path,
    screenshot: str | Path,
    chromium: str = "/usr/bin/chromium",
    chromedriver: str = "/usr/bin/chromedriver",
    page_timeout: int = 120,
    search: str = "PSNR",
) -> dict[str, list[str]]:
    """Serve the built book over HTTP and open every page in headless Chromium at 1400 px
    (`headless_chromium`); screenshot the first page (where the index forwards) into `screenshot`; return the problems of each page
    that has any (an empty dict: none): console errors, a page wider than the window, a table
    wider than the text column, a figure without a number and caption, a machine path, "nan" or
    a "-0.00 [" interval in the text; and, under "search.html", a search for `search` that finds
    nothing. A page that does not load within `page_timeout` seconds raises selenium's TimeoutException."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    html = Path(html).resolve()
    server, url = _serve(html)
    driver = headless_chromium(chromium, chromedriver, page_timeout, window="1400,1000")
    problems: dict[str, list[str]] = {}
    try:
        skip = ("index.html", "search.html", "genindex.html")
        pages = [
            html / "index.html",
            *sorted(p for p in html.rglob("*.html") if "_static" not in p.parts and p.name not in skip),
        ]
        for page in pages:
            name = str(page.relative_to(html))
            driver.get(f"{url}/{name}")
            if page.name == "index.html":  # it forwards to the first chapter: shoot that once it is shown
                WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "article.bd-article"))
                driver.save_screenshot(str(screenshot))
            found, text = driver.execute_script(_PAGE_PROBLEMS)
            found += [f"the text holds {what}" for needle, what in FORBIDDEN_TEXT.items() if needle in text]
            console = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            found += [f"console: {m}" for m in console if "favicon.ico" not in m]  # the book has no icon
            if found:
                problems[name] = found
        driver.get(f"{url}/search.html?q={search}")
        try:
            WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results li"))
        except Exception:  # selenium's TimeoutException: the search index answered nothing
            problems["search.html"] = [f"a search for {search!r} finds nothing"]
    finally:
        driver.quit()
        server.shutdown()
    return problems
