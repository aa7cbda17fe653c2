"""Build the book: run every chapter notebook with papermill, then Jupyter Book 1 on the outputs.

The chapters are executed into a staging copy of the book's sources (`OUT/source`), so the
notebooks in the repository stay clean, and Jupyter Book renders papermill's outputs
(`execute_notebooks: "off"`) into `OUT/html`. Training is shared across chapters through the run cache in
`runs_dir`: an unchanged book rebuilds without training again. Tables a chapter writes (Table 1)
land in `OUT/results`. A chapter receives only the parameters its `parameters` cell declares.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[1]


def chapters(project: Path = PROJECT) -> list[str]:
    """Notebook chapters in the order of `_toc.yml` (paths without suffix)."""
    toc = yaml.safe_load((project / "_toc.yml").read_text(encoding="utf-8"))
    entries = [entry for part in toc.get("parts", [toc]) for entry in part.get("chapters", [])]
    return [e["file"] for e in entries if (project / f"{e['file']}.ipynb").is_file()]


def build_book(
    profile: str = "cpu",
    data: str | None = None,
    runs_dir: str | Path = "runs",
    out: str | Path = "_build",
    only: list[str] | None = None,
    project: Path = PROJECT,
) -> Path:
    """Execute every chapter (or those named in `only`) at `profile` on `data` (None: synthetic)
    and build HTML; return its folder."""
    import papermill

    if not (project / "_config.yml").is_file():
        raise FileNotFoundError(f"no _config.yml in {project}: build the book from a clone of the repository")
    out, runs_dir = Path(out).resolve(), Path(runs_dir).resolve()
    source = out / "source"
    if source.exists():
        shutil.rmtree(source)
    source.mkdir(parents=True)
    shutil.copy(project / "_config.yml", source / "_config.yml")
    shutil.copytree(project / "book", source / "book")
    selected = chapters(project)
    if only:
        unknown = sorted(set(only) - set(selected))
        if unknown:
            raise ValueError(f"unknown chapters {unknown}; the book has {selected}")
        selected = [c for c in selected if c in only]
    toc = yaml.safe_load((project / "_toc.yml").read_text(encoding="utf-8"))
    dropped = set(chapters(project)) - set(selected)
    toc["chapters"] = [e for e in toc["chapters"] if e["file"] not in dropped]
    (source / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    given = {"profile": profile, "data_root": str(Path(data).resolve()) if data else None, "runs_dir": str(runs_dir), "results_dir": str(out / "results")}
    for chapter in selected:
        declared = papermill.inspect_notebook(project / f"{chapter}.ipynb")
        parameters = {k: v for k, v in given.items() if k in declared}
        started = time.perf_counter()
        target = source / f"{chapter}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        print(f"running {chapter} ({profile})", flush=True)
        papermill.execute_notebook(
            project / f"{chapter}.ipynb", target, parameters=parameters, cwd=str(project / Path(chapter).parent), kernel_name="python3", progress_bar=False
        )
        print(f"  {chapter}: {time.perf_counter() - started:.0f} s", flush=True)
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(source), "--path-output", str(out)]
    if subprocess.run(command, check=False).returncode != 0:
        raise RuntimeError(f"jupyter-book build failed: {' '.join(command)}")
    html = out / "html"
    if html.exists():
        shutil.rmtree(html)
    shutil.copytree(out / "_build" / "html", html)
    return html
