"""The book's findings table: each claim of the paper, what this build measured, and whether it is
reproduced, one row per claim, written by the chapter that measures it and shown first in the intro.

A chapter module (lpsr.study.chapters) decides its claims from its own numbers and records them with
`record_claims` in `results_dir/findings/<chapter>.json`; `findings_section` gathers the chapters of
a build into the Markdown table the intro opens with. A paired difference decides a claim by its
95% interval (`interval_verdict`): wholly on the claimed side, "reproduced"; wholly on the other,
"not reproduced"; across zero, "inconclusive". A claim this build has no measurement for says
"not testable here".
"""

from __future__ import annotations

import json
from pathlib import Path

from lpsr.files import write_atomic

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTABLE = (
    "reproduced",
    "not reproduced",
    "inconclusive",
    "not testable here",
)


def claim(text: str, measured: str, verdict: str, chapter: str) -> dict:
    """One row of the findings table; `chapter` is the notebook's path without suffix."""
    return {"claim": text, "measured": measured, "verdict": verdict, "chapter": chapter}


def interval_verdict(diffs: list[dict]) -> str:
    """The verdict of paired differences (`paired_difference`) that the claim says are all above
    zero: every interval above zero, reproduced; any wholly below, not reproduced; else inconclusive."""
    if not diffs:
        return NOT_TESTABLE
    if all(d["ci_low"] > 0 for d in diffs):
        return REPRODUCED
    if any(d["ci_high"] < 0 for d in diffs):
        return NOT_REPRODUCED
    return INCONCLUSIVE


def interval_move(before, after) -> str:
    """How a paired difference moves from one row to another (each with `diff_ci_low` and
    `diff_ci_high`): "rises" or "falls" when their 95% intervals do not overlap, else "holds"."""
    if after["diff_ci_low"] > before["diff_ci_high"]:
        return "rises"
    if after["diff_ci_high"] < before["diff_ci_low"]:
        return "falls"
    return "holds"


def record_claims(results_dir: str | Path, chapter: str, rows: list[dict]) -> Path:
    """Write a chapter's claims to `results_dir/findings/<chapter name>.json` (atomically)."""
    path = Path(results_dir) / "findings" / f"{Path(chapter).name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic({path: json.dumps(rows, indent=1, ensure_ascii=False).encode("utf-8")})
    return path


def findings_section(
    results_dir: str | Path, chapters: list[str], titles: dict[str, str], link_prefix: str = "../"
) -> str:
    """The intro's findings table (Markdown) from the claims the built `chapters` recorded, in the
    book's order; each row links its chapter (`titles`: chapter → the link's text). Empty without claims."""
    rows = []
    for chapter in chapters:
        path = Path(results_dir) / "findings" / f"{Path(chapter).name}.json"
        if path.is_file():
            rows += json.loads(path.read_text(encoding="utf-8"))
    if not rows:
        return ""
    lines = [
        f"| {r['claim']} | {r['measured']} | **{r['verdict']}** | {{doc}}`{titles.get(r['chapter'], r['chapter'])} <{link_prefix}{r['chapter']}>` |"
        for r in rows
    ]
    return "\n".join(
        [
            "## Findings",
            "",
            "Each claim of the paper, what this build measured (paired differences over the same test plates,",
            "with their 95% bootstrap interval), and the verdict the interval supports: *reproduced* when it lies",
            "wholly on the claimed side of zero, *not reproduced* when it lies wholly on the other, *inconclusive*",
            "when it spans zero. The numbers are this build's, at its profile and on its data (the banner above).",
            "",
            "| claim | measured here | verdict | chapter |",
            "|---|---|---|---|",
            *lines,
            "",
        ]
    )
