"""The package's import graph follows the one-way data flow: no cycles, no upward imports.

Read from the source (AST), imports inside functions included, so a deferred import cannot hide
a cycle. Layers, lowest first: the leaf modules every layer uses, then data, models, losses,
the configuration, training, evaluation, the study, and the command line and the package's own
`__init__` (its public `lpsr.load_model`), which nothing imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lpsr

PACKAGE = Path(lpsr.__file__).parent
ROOT = PACKAGE.parent  # the repository (bench/ beside the package)
# config is a leaf: typed settings, their accepted values, validation, profiles and overrides,
# with no implementation below it and nothing written to disk
LEAVES = ("lpsr.files", "lpsr.seeding", "lpsr.precision", "lpsr.metrics", "lpsr.inference", "lpsr.config")
LAYERS = (
    LEAVES,
    ("lpsr.data",),
    ("lpsr.models",),
    ("lpsr.losses",),
    ("lpsr.training",),
    ("lpsr.evaluation",),
    ("lpsr.study",),
    ("lpsr.cli", "lpsr"),  # the package itself: its public `lpsr.load_model` comes from evaluation
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The lpsr modules `path` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative: resolve against the importing module's package
                package = module_name(path).split(".")
                package = package if path.name == "__init__.py" else package[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + [node.module])
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from pkg import module`
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {name for name in found if name in modules}


def layer_of(module: str) -> int:
    for rank, layer in enumerate(LAYERS):
        if module in layer or any(module.startswith(prefix + ".") for prefix in layer if prefix != "lpsr"):
            return rank
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) - {module_name(p)} for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_import_goes_down_a_layer_or_stays_in_its_package():
    upward = []
    for module, targets in graph().items():
        for target in targets:
            same_package = target.split(".")[:2] == module.split(".")[:2]
            if layer_of(target) > layer_of(module) or (
                layer_of(target) == layer_of(module) and not same_package and layer_of(module) != 0
            ):
                upward.append(f"{module} -> {target}")
    assert not upward, "imports against the data flow: " + "; ".join(sorted(upward))


def test_no_import_cycles():
    edges, cycles = graph(), []

    def visit(module, path):
        for target in sorted(edges.get(module, ())):
            if target in path:
                cycles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in done:
                visit(target, path + [target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(edges):
        if module not in done:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(sorted(set(cycles)))


def test_the_top_level_holds_at_most_a_dozen_modules():
    top = [p.name for p in PACKAGE.glob("*.py")]
    assert len(top) <= 12, top


def test_no_function_in_the_package_or_the_benches_is_over_60_lines():
    long = []
    for path in sorted([*(ROOT / "lpsr").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(
                    f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
                )
    assert not long, long


def test_config_declares_the_registered_models_and_their_scales():
    from lpsr.config import MODEL_NAMES, SCALES
    from lpsr.models import MODELS
    from lpsr.models.lpsr import SCALES as LPSR_SCALES

    assert tuple(MODELS) == MODEL_NAMES and SCALES == LPSR_SCALES


STUDY, CHAPTERS = "lpsr.study", "lpsr.study.chapters"


def test_no_chapter_module_imports_another_and_the_toolkit_imports_no_study_module():
    """lpsr/study is three layers deep: a chapter module (or the book, which gathers what the
    chapters recorded), the toolkit beneath it (experiments, plotting, text, findings, ...), and
    the core of the package; the toolkit imports no module of lpsr.study, so no chain inside the
    study is longer than chapter -> toolkit."""
    crossing, toolkit_up = [], []
    for module, targets in graph().items():
        if not module.startswith(STUDY + "."):
            continue
        inside = {t for t in targets if t.startswith(STUDY + ".")}
        if module.startswith(CHAPTERS + ".") or module == f"{STUDY}.book":
            crossing += [f"{module} -> {t}" for t in inside if t.startswith(CHAPTERS)]
        elif module != CHAPTERS:
            toolkit_up += [f"{module} -> {t}" for t in inside]
    assert not crossing, "a chapter imports another: " + "; ".join(sorted(crossing))
    assert not toolkit_up, "the toolkit imports the study: " + "; ".join(sorted(toolkit_up))


def test_each_notebook_calls_its_own_chapter_module_and_no_other():
    import json

    chapters = {p.stem for p in (PACKAGE / "study" / "chapters").glob("*.py")} - {"__init__"}
    found = {}
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        own = notebook.stem.split("_", 1)[1]
        assert own in chapters, f"{notebook.name}: no module lpsr/study/chapters/{own}.py"
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        others = {m for m in chapters if f"{CHAPTERS}.{m} " in code or f"{CHAPTERS}.{m}." in code} - {own}
        if others:
            found[notebook.name] = sorted(others)
    assert not found, f"notebooks calling another chapter's module: {found}"
