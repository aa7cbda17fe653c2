"""Build the book: run every chapter notebook with papermill, then Jupyter Book 1 on the outputs.

The chapters are executed into a staging copy of the book's sources (`OUT/source`), so the
notebooks in the repository stay clean, and Jupyter Book renders papermill's outputs
(`execute_notebooks: "off"`) into `OUT/html`. Training is shared across chapters through the run cache in
`runs_dir`: an unchanged book rebuilds without training again. Tables a chapter writes (Table 1)
land in `OUT/results`. A chapter receives only the parameters its `parameters` cell declares.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lpsr.files import write_atomic

PROJECT = Path(__file__).resolve().parents[2]  # the repository: lpsr/study/book.py
# The longest a chapter's cell may run before the chapter is stopped as stalled (seconds; None: no
# limit): well above the longest cell of each profile (a chapter's training; the book's build
# record, in its introduction, times every chapter), so that a loaded machine still finishes
# while a stall ends well within a CI run.
# At `paper` scale a cell trains for hours to days, so it is not bounded.
CELL_TIMEOUT = {"smoke": 1200, "cpu": 3 * 3600, "paper": None}
VERSIONED = ("torch", "torchvision", "numpy", "paddleocr", "onnxruntime", "rapidocr", "matplotlib", "pandas", "myst-nb")


class BookError(RuntimeError):
    """A chapter could not be executed; the message names the chapter and the cell."""


def chapters(project: Path = PROJECT) -> list[str]:
    """Notebook chapters in the order of `_toc.yml` (paths without suffix)."""
    toc = yaml.safe_load((project / "_toc.yml").read_text(encoding="utf-8"))
    entries = [entry for part in toc.get("parts", [toc]) for entry in part.get("chapters", [])]
    return [e["file"] for e in entries if (project / f"{e['file']}.ipynb").is_file()]


def build_note(profile: str, data: str | None, builds: list[dict], source: Path | None = None) -> str:
    """The intro's account of the last of `builds` (a folder's build history, `record_build`):
    where, on what, how long each chapter took when it last ran and when that was (a chapter
    reused unchanged ran in an earlier build), how many runs it trained (the rest it found
    finished in the run cache), and the earlier builds into the same folder. Chapters are named by
    their number and title in the staged book `source`."""
    import platform

    import torch

    from lpsr.precision import native_bf16

    bf16, why = native_bf16("cpu")  # what `train.bf16=auto` resolves to on this machine
    precision = "with bf16 autocast" if bf16 else "in fp32"
    build = builds[-1]
    reused, ran = set(build.get("reused", ())), build.get("ran", {})
    rows = "\n".join(
        f"| {chapter_title(source, chapter)} | {ran.get(chapter, {}).get('seconds', s) / 60:.1f} | "
        f"{ran.get(chapter, {}).get('finished', build['date'])}{' (reused since: unchanged)' if chapter in reused else ''} |"
        for chapter, s in build["seconds"].items()
    )
    total = sum(ran.get(chapter, {}).get("seconds", s) for chapter, s in build["seconds"].items())
    cpuinfo = Path("/proc/cpuinfo")
    names = (
        [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        if cpuinfo.is_file()
        else []
    )
    cpu = names[0] if names else platform.processor() or platform.machine()
    history = "\n".join(
        f"| {b['date']} | `{b['profile']}` | {len(b['seconds'])} | {b['trained']} | {b['cached']} | {sum(b['seconds'].values()) / 60:.1f} |"
        for b in builds
    )
    return f"""
## This build

Profile `{profile}` on {f"`{Path(data).name}`" if data else "synthetic CCPD-format frames"}, built
{build["date"]} on {cpu} with {os.cpu_count()} logical CPUs, Python
{platform.python_version()} and torch {torch.__version__}. Training and evaluation ran {precision},
as `train.bf16=auto` resolves it on this machine: {why}. The paper does not say its precision. Minutes per chapter:

| chapter | minutes | ran |
|---|---|---|
{rows}
| **all** | **{total / 60:.1f}** | |

This build trained {build["trained"]} runs; {build["cached"]} finished runs were in the run cache
already. The times include training only for the runs that were not there yet: an unchanged book
rebuilds without training, and a chapter none of whose inputs changed (its notebook, parameters,
the package's code, the versions that matter, the data) is not executed again. Every build into this folder so far (one that found no runs cached
trained everything from scratch):

| built | profile | chapters | runs trained | runs cached before | minutes |
|---|---|---|---|---|---|
{history}
"""


def chapter_title(source: Path | None, chapter: str) -> str:
    """ "3. Table 1: every method under one protocol": a chapter's number in the book staged in
    `source` and the first heading of its notebook there; the chapter's path when it has none."""
    notebook = source / f"{chapter}.ipynb" if source else None
    if notebook is None or not notebook.is_file():
        return chapter
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    headings = [
        line[2:].strip()
        for c in cells
        if c["cell_type"] == "markdown"
        for line in "".join(c["source"]).splitlines()
        if line.startswith("# ")
    ]
    files = chapters(source)
    number = f"{files.index(chapter) + 1}. " if chapter in files else ""
    return f"{number}{headings[0]}" if headings else chapter


def record_build(out: Path, entry: dict) -> list[dict]:
    """Append `entry` to `out/builds.json` (the folder's build history) and return the history."""
    path = out / "builds.json"
    builds = [*(json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []), entry]
    write_atomic({path: json.dumps(builds, indent=1).encode("utf-8")})
    return builds


def build_book(
    profile: str = "cpu",
    data: str | None = None,
    runs_dir: str | Path = "runs",
    out: str | Path = "_build",
    only: list[str] | None = None,
    project: Path = PROJECT,
    small_plates: str | None = None,
    cell_timeout: int | None = -1,
    rerun: bool = False,
) -> Path:
    """Execute every chapter (or those named in `only`) at `profile` on `data` (None: synthetic)
    and build HTML; return its folder. `small_plates` is a folder of real plate crops named by
    their text, which the last chapter reads before and after SR. `cell_timeout` (seconds) stops a
    chapter whose cell runs longer (-1: the profile's `CELL_TIMEOUT`; None or 0: no limit).

    A chapter whose inputs are unchanged since it last ran into `out` (`chapter_key`) is not
    executed again: its notebook kept in `OUT/executed` is reused (`rerun`: every chapter runs).

    A chapter that fails or times out raises `BookError` naming the chapter and the cell, after
    the chapters executed before it are built into HTML; the failed chapter's partial notebook
    stays in `OUT/source` with the error in its cell."""

    # papermill's parameter inspection warns on multi-line parameter values (a chapter's dict of
    # variants); the book passes only one-line parameters
    logging.getLogger("papermill.translators").setLevel(logging.ERROR)
    if not (project / "_config.yml").is_file():
        raise FileNotFoundError(f"no _config.yml in {project}: build the book from a clone of the repository")
    out, runs_dir = Path(out).resolve(), Path(runs_dir).resolve()
    source = _fresh_source(project, out / "source", build_banner(profile, data))
    selected = _selected_chapters(project, only)
    _drop_chapters(source, set(chapters(project)) - set(selected))
    given = {
        "profile": profile,
        "data_root": str(Path(data).resolve()) if data else None,
        "runs_dir": str(runs_dir),
        "results_dir": str(out / "results"),
        "model_source": "runs",  # chapter 6 trains its runs in the book, never falls back to the released model
        "small_plates": str(Path(small_plates).resolve()) if small_plates else None,
    }
    if cell_timeout == -1:
        cell_timeout = CELL_TIMEOUT[profile]
    shutil.rmtree(out / "results" / "findings", ignore_errors=True)  # each chapter run records its own again
    finished = set(runs_dir.glob("*/done.json"))
    print(training_precision_line(profile), flush=True)
    done = _run_chapters(selected, project, source, given, profile, data, cell_timeout, out / "executed", rerun)
    seconds, failure = done.seconds, done.failure
    _drop_chapters(source, set(selected) - set(seconds))  # those after a failed chapter
    if failure and not seconds:
        raise BookError(failure)
    trained = len(set(runs_dir.glob("*/done.json")) - finished)
    _close_intro(source, out, profile, data, done, trained, len(finished))
    html = _jupyter_book(source, out)
    if failure:
        raise BookError(f"{failure}; the {len(seconds)} chapters before it are built in {html}")
    return html


def _close_intro(source: Path, out: Path, profile: str, data, done, trained: int, cached: int) -> None:
    """The intro page's findings table (what the chapters that ran recorded) and its build note,
    with this build recorded beside the earlier ones (`record_build`)."""
    entry = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "profile": profile,
        "seconds": done.seconds,
        "reused": done.reused,
        "ran": done.ran,
        "trained": trained,
        "cached": cached,
    }
    _findings_into_intro(source, out / "results", list(done.seconds))
    with open(source / "book" / "intro.md", "a", encoding="utf-8") as intro:
        intro.write(build_note(profile, data, record_build(out, entry), source))


def _selected_chapters(project: Path, only: list[str] | None) -> list[str]:
    """The book's chapters in order, or those of them named in `only` (a ValueError names any other)."""
    selected = chapters(project)
    if only:
        unknown = sorted(set(only) - set(selected))
        if unknown:
            raise ValueError(f"unknown chapters {unknown}; the book has {selected}")
        selected = [c for c in selected if c in only]
    return selected


def _fresh_source(project: Path, source: Path, banner: str) -> Path:
    """`source` emptied and filled with the book's pages, table of contents and `_config.yml`
    (with `banner` as its announcement); the executed chapters go in next to them."""
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    config = yaml.safe_load((project / "_config.yml").read_text(encoding="utf-8"))
    config.setdefault("html", {})["announcement"] = banner
    (source / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    shutil.copytree(project / "book", source / "book")
    if (project / "_static").is_dir():  # the book's CSS (Jupyter Book adds every file there)
        shutil.copytree(project / "_static", source / "_static")
    shutil.copy(project / "_toc.yml", source / "_toc.yml")
    return source


def _run_chapters(
    selected: list[str],
    project: Path,
    source: Path,
    given: dict,
    profile: str,
    data: str | None,
    cell_timeout,
    cache: Path,
    rerun: bool = False,
) -> ChapterRuns:
    """Execute the chapters in order into `source` with papermill, each given the parameters its
    `parameters` cell declares, or reuse a chapter's executed notebook from `cache` when nothing
    it depends on has changed (`chapter_key`; `rerun`: never)."""
    import papermill

    done, findings = ChapterRuns(), Path(given["results_dir"]) / "findings"
    began = time.perf_counter()
    for number, chapter in enumerate(selected, 1):
        declared = papermill.inspect_notebook(project / f"{chapter}.ipynb")
        parameters = {k: v for k, v in given.items() if k in declared}
        started = time.perf_counter()
        target = source / f"{chapter}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        key, kept = chapter_key(project, chapter, parameters), cache / chapter
        ran = None if rerun else _reuse(kept, key, target, findings / f"{Path(chapter).name}.json")
        if ran is not None:
            done.seconds[chapter], done.ran[chapter] = time.perf_counter() - started, ran
            done.reused.append(chapter)
            print(f"reusing {chapter} ({profile}): nothing it depends on changed since it ran", flush=True)
            continue
        so_far = (time.perf_counter() - began) / 60
        print(
            f"running {chapter} ({profile}), chapter {number} of {len(selected)}, {so_far:.0f} min so far", flush=True
        )
        try:
            papermill.execute_notebook(
                project / f"{chapter}.ipynb",
                target,
                parameters=parameters,
                cwd=str(project / Path(chapter).parent),
                kernel_name="python3",
                progress_bar=False,
                execution_timeout=cell_timeout or None,
            )
        except Exception as error:  # any failure of a chapter: keep the chapters before it
            done.failure = f"chapter {chapter} stopped: {chapter_failure(error, target, cell_timeout)} (its partial notebook: {target})"
            return done
        done.seconds[chapter] = time.perf_counter() - started
        done.ran[chapter] = {"seconds": done.seconds[chapter], "finished": time.strftime("%Y-%m-%d %H:%M")}
        _prepare_for_html(target, reproduce_note(chapter, profile, data, done.seconds[chapter], project))
        _keep(kept, key, target, findings / f"{Path(chapter).name}.json", done.ran[chapter])
        print(f"  {chapter}: {done.seconds[chapter]:.0f} s", flush=True)
    return done


@dataclass
class ChapterRuns:
    """What `_run_chapters` did: the seconds each chapter took in this build; when each last
    executed and for how long (`ran`; a reused chapter's from the build that executed it); the
    chapters reused; why the first that failed stopped (None: none did)."""

    seconds: dict[str, float] = field(default_factory=dict)
    ran: dict[str, dict] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    failure: str | None = None


def chapter_key(project: Path, chapter: str, parameters: dict) -> str:
    """A hash of what a chapter's executed notebook depends on: the notebook, its parameters, the
    package's code, the installed versions that matter, whether this CPU computes bf16 natively
    (what `train.bf16=auto` resolves to), and the listing of the data folders it is given. Not
    the run cache: a finished run is what its configuration says, whoever trained it."""
    import hashlib

    from lpsr.precision import native_bf16

    digest = hashlib.sha256((project / f"{chapter}.ipynb").read_bytes())
    digest.update(json.dumps([parameters, installed_versions(), native_bf16("cpu")[0]], sort_keys=True).encode())
    for path in sorted((project / "lpsr").rglob("*.py")):
        digest.update(path.relative_to(project).as_posix().encode() + path.read_bytes())
    for name in ("data_root", "small_plates"):
        if parameters.get(name):
            digest.update(json.dumps(_listing(Path(parameters[name]))).encode())
    return digest.hexdigest()


def _listing(folder: Path) -> list:
    """The names, sizes and modification times of a folder's entries and of its split files
    (`splits/*.txt`): what changes when data is added, removed or replaced. A subfolder counts by
    its own modification time, which changes when a file is added to it, removed or renamed, so a
    full CCPD root's 300k frames are never listed."""
    if not folder.is_dir():
        return [str(folder), folder.exists()]
    paths = sorted(folder.iterdir()) + sorted((folder / "splits").glob("*.txt"))
    return [[path.relative_to(folder).as_posix(), (stat := path.stat()).st_size, stat.st_mtime_ns] for path in paths]


def _keep(kept: Path, key: str, notebook: Path, findings: Path, ran: dict) -> None:
    """Keep a chapter's executed notebook (and the claims it recorded) under `kept` for `_reuse`,
    with its key and when and for how long it ran."""
    files = {
        kept.with_suffix(".ipynb"): notebook.read_bytes(),
        kept.with_suffix(".key"): json.dumps({"key": key, **ran}).encode("utf-8"),
    }
    if findings.is_file():
        files[kept.with_suffix(".findings.json")] = findings.read_bytes()
    else:
        kept.with_suffix(".findings.json").unlink(missing_ok=True)
    kept.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(files)


def _reuse(kept: Path, key: str, notebook: Path, findings: Path) -> dict | None:
    """Put a kept chapter in place (its notebook into the book's sources, its claims into the
    results) when it was executed under the same `key`, and say when and for how long it ran;
    None when there is none to reuse."""
    try:
        ran = json.loads(kept.with_suffix(".key").read_text(encoding="utf-8"))
        if not isinstance(ran, dict) or ran.pop("key", None) != key:
            return None
        files = {notebook: kept.with_suffix(".ipynb").read_bytes()}
    except (OSError, ValueError):
        return None
    if kept.with_suffix(".findings.json").is_file():
        findings.parent.mkdir(parents=True, exist_ok=True)
        files[findings] = kept.with_suffix(".findings.json").read_bytes()
    write_atomic(files)
    return ran


def _findings_into_intro(source: Path, results: Path, built: list[str]) -> None:
    """Open the staged intro with the findings table of the `built` chapters (`findings_section`),
    each linked as "chapter N", its number in the book (the executed notebooks are in `source`)."""
    from lpsr.study.findings import findings_section

    files = chapters(source)  # the book numbers its notebook chapters, and only those
    titles = {c: f"chapter {files.index(c) + 1}" for c in built if c in files}
    section = findings_section(results, built, titles)
    intro = source / "book" / "intro.md"
    text = intro.read_text(encoding="utf-8")
    marker = "```{tableofcontents}"
    intro.write_text(
        text.replace(marker, f"{section}\n{marker}") if marker in text else text + section, encoding="utf-8"
    )


def _jupyter_book(source: Path, out: Path) -> Path:
    """Jupyter Book 1 on the executed sources; the HTML lands in `out/html`."""
    # Sphinx keeps pages of earlier builds in its output: start it empty, so that a chapter left
    # out of this build leaves no stale page behind (its parsed sources are still reused)
    shutil.rmtree(out / "_build" / "html", ignore_errors=True)
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(source), "--path-output", str(out)]
    if subprocess.run(command, check=False).returncode != 0:
        raise RuntimeError(f"jupyter-book build failed: {' '.join(command)}")
    html = out / "html"
    if html.exists():
        shutil.rmtree(html)
    shutil.copytree(out / "_build" / "html", html)
    return html


def chapter_failure(error: Exception, notebook: Path, cell_timeout: int | None) -> str:
    """One line on why a chapter's execution stopped, naming the cell: papermill's error knows it,
    and after a timeout it is the last cell the partial `notebook` records as started."""
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError):
        return f"cell {error.cell_index} (execution count {error.exec_count}) raised {error.ename}: {error.evalue}"
    if isinstance(error, CellTimeoutError):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"] if notebook.is_file() else []
        started = [(i, c) for i, c in enumerate(cells) if c.get("metadata", {}).get("papermill", {}).get("start_time")]
        where = (
            f"cell {started[-1][0]} ({''.join(started[-1][1]['source']).strip().splitlines()[0][:60]!r}...)"
            if started
            else "a cell"
        )
        return f"{where} ran longer than the cell timeout of {cell_timeout} s (lpsr book --cell-timeout)"
    return f"{type(error).__name__}: {error}".splitlines()[0]


def _drop_chapters(source: Path, dropped: set[str]) -> None:
    """Remove `dropped` chapters from the staged `_toc.yml` (and a part left without chapters)."""
    toc = yaml.safe_load((source / "_toc.yml").read_text(encoding="utf-8"))
    for part in toc.get("parts", [toc]):
        part["chapters"] = [e for e in part.get("chapters", []) if e["file"] not in dropped]
    if "parts" in toc:
        toc["parts"] = [part for part in toc["parts"] if part["chapters"]]
    (source / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")


def training_precision_line(profile: str) -> str:
    """What the build prints first: the precision the profile's runs train in on this machine, and
    why (an AVX2-only CPU trains in fp32, several times slower than one with native bf16)."""
    from lpsr.config import load_config
    from lpsr.precision import as_device

    config = load_config(profile)
    precision, device = config.resolved_precision(), as_device(config.train.device)
    where = f"{os.cpu_count()} CPU cores" if device.type == "cpu" else str(device)
    return (
        f"the {profile} profile trains in {'bf16' if precision['bf16'] else 'fp32'} on {where} here "
        f"({precision['bf16_reason']})"
    )


def build_banner(profile: str, data: str | None) -> str:
    """The line every page of the book shows at its top: the profile and data of the build."""
    if data:
        return f"Built at the <code>{profile}</code> profile on the CCPD frames of <code>{Path(data).name}</code>."
    return (
        f"Built at the <code>{profile}</code> profile on synthetic CCPD-format frames: its numbers are not about CCPD."
    )


def installed_versions() -> dict[str, str]:
    """The versions of the packages a chapter's numbers depend on."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return {name: installed(name) for name in VERSIONED}


def reproduce_note(chapter: str, profile: str, data: str | None, seconds: float, project: Path = PROJECT) -> str:
    """The box that ends a chapter: the commands that rebuild it, its profile, when it ran and for
    how long, the code's commit and the versions that matter."""
    data_arg = f" -p data_root /path/to/{Path(data).name}" if data else ""
    book_data = f" --data /path/to/{Path(data).name}" if data else ""
    versions = ", ".join(f"{name} {v}" for name, v in installed_versions().items())
    return f"""```{{admonition}} Reproduce this page
:class: note
`papermill {chapter}.ipynb out.ipynb -p profile {profile}{data_arg}` runs this chapter alone, or
`lpsr book --profile {profile}{book_data} --chapters {chapter}` rebuilds it into the book (finished
runs are reused). Profile `{profile}`; this page ran for {seconds / 60:.1f} min, finishing {time.strftime("%Y-%m-%d %H:%M")};
code at commit `{source_commit(project)}`; {versions}.
```"""


def source_commit(project: Path = PROJECT) -> str:
    """The checkout's commit (short), marked when the working tree differs from it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=project, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=project,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit} with uncommitted changes" if dirty else commit


def _prepare_for_html(notebook: Path, closing: str) -> None:
    """Remove saved ipywidgets state: with it, myst-nb loads require.js and the widget manager from
    a CDN, which fails offline, and a widget without its kernel would only pretend to work. The
    explorer is for JupyterLab; its chapter shows a static figure in HTML. Hide papermill's
    injected parameter cell (it holds this machine's paths) as the chapters hide their own, and
    end the chapter with the markdown `closing`."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    nb["cells"].append({"cell_type": "markdown", "id": "reproduce-this-page", "metadata": {}, "source": closing})
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    notebook.write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
