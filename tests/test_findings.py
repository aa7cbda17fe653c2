"""The toolkit the chapters write with: numbers in words, paired intervals deciding a claim, and
the intro's findings table gathered from what the built chapters recorded."""

import numpy as np
import pandas as pd

from lpsr.study.experiments import LEARNABLE_VARIANTS, READING_VARIANTS, variant_configs
from lpsr.study.text import difference, leaders, names, number

POSITIVE, PAPER = LEARNABLE_VARIANTS


def test_numbers_say_missing_zero_and_ties_in_words():
    assert number(float("nan")) == "not measured" and number(None, absent="–") == "–"
    assert number(-0.001, "+.2f") == "+0.00" and number(-0.0004, ".3f") == "0.000" and number(-0.25, "+.2f") == "-0.25"
    assert number(-0.0001, ".1%") == "0.0%" and number(12345.6, ",.0f") == "12,346"
    assert difference(-0.001, -0.004, -0.0001) == "nil (below 0.01 dB, interval included)"
    assert difference(-0.5, -0.8, -0.2) == "-0.50 dB [-0.80, -0.20]"
    assert difference(0.5, np.nan, 0.7) == "not measured"
    assert leaders({"a": 20.001, "b": 20.004, "c": 19.0}) == ["a", "b"]  # tied at two decimals
    assert leaders({"a": np.nan}) == [] and leaders({"a": 1.0, "b": 2.0}, highest=False) == ["a"]
    assert names(["a"]) == "*a*" and names(["a", "b", "c"], "**") == "**a**, **b** and **c**"


def test_the_readings_are_named_once_and_the_chapters_share_their_runs():
    assert list(READING_VARIANTS)[:3] == ["MSE", POSITIVE, PAPER]
    configs = variant_configs("smoke", None, READING_VARIANTS)
    learnable = variant_configs("smoke", None, LEARNABLE_VARIANTS)
    assert configs[POSITIVE].run_id() == learnable[POSITIVE].run_id()
    assert {c.loss.weighting for name, c in learnable.items()} == {"paper"}
    assert configs[PAPER].loss.reading == "paper" and configs["MSE"].loss.name == "mse"


def test_a_page_table_has_one_header_row_with_the_index_name_in_its_corner():
    from lpsr.study.text import index_in_corner

    frame = pd.DataFrame({"method": ["bicubic", "MSE"], "plates": [94, 94]}).set_index("method")
    html = index_in_corner(frame).to_html()
    assert html.count("<tr") == 3 and "<th>method</th>" in html  # one header row and two rows
    assert index_in_corner(frame).loc["MSE", "plates"] == 94 and frame.index.name == "method"
    wide = pd.DataFrame({("MSE", "PSNR-Y"): [1.0]}, index=pd.Index(["皖A1"], name="plate"))
    assert index_in_corner(wide).to_html().count("<tr") == 3  # two header rows (model, score), one row


def test_supported_rounds_to_the_interval_width():
    from lpsr.study.text import supported

    assert supported(-1.6049, -1.79, -1.43) == "-1.6 dB [-1.8, -1.4]"  # 0.36 wide: one decimal
    assert supported(0.0223, 0.014, 0.031, "") == "+0.02 [+0.01, +0.03]"  # 0.017 wide: two
    # an end that would round to zero keeps its side of zero: a decimal more
    assert supported(0.04, -0.01, 0.10) == "+0.04 dB [-0.01, +0.10]"
    assert supported(0.0123, 0.004, 0.031, "") == "+0.012 [+0.004, +0.031]"
    assert supported(-3.2, -6.0, -1.0) == "-3 dB [-6, -1]"
    assert supported(np.nan, 0, 1) == "not measured"


def test_a_claim_is_decided_by_its_paired_interval():
    from lpsr.study.findings import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, interval_verdict

    assert interval_verdict([{"ci_low": 0.1, "ci_high": 0.3}, {"ci_low": 0.01, "ci_high": 0.2}]) == REPRODUCED
    assert interval_verdict([{"ci_low": 0.1, "ci_high": 0.3}, {"ci_low": -0.4, "ci_high": -0.1}]) == NOT_REPRODUCED
    assert interval_verdict([{"ci_low": -0.1, "ci_high": 0.3}]) == INCONCLUSIVE
    assert interval_verdict([]) == NOT_TESTABLE


def test_the_intro_gathers_the_built_chapters_claims_in_book_order(tmp_path):
    from lpsr.study.findings import claim, findings_section, record_claims

    assert findings_section(tmp_path, ["notebooks/03_comparison"], {}) == ""
    record_claims(tmp_path, "notebooks/09_budget", [claim("late", "m9", "inconclusive", "notebooks/09_budget")])
    record_claims(tmp_path, "notebooks/03_comparison", [claim("early", "m3", "reproduced", "notebooks/03_comparison")])
    record_claims(tmp_path, "notebooks/04_ablation", [claim("not built", "m4", "reproduced", "notebooks/04_ablation")])
    section = findings_section(
        tmp_path, ["notebooks/03_comparison", "notebooks/09_budget"], {"notebooks/03_comparison": "4. Table 1"}
    )
    rows = [line for line in section.splitlines() if line.startswith("| early") or line.startswith("| late")]
    assert rows[0] == "| early | m3 | **reproduced** | {doc}`4. Table 1 <../notebooks/03_comparison>` |"
    assert rows[1].startswith("| late |") and "not built" not in section and section.startswith("## Findings")
