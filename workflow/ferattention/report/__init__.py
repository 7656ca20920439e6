"""The HTML report: one self-contained page a researcher reads first.

:func:`build_report_context` (:mod:`.sections`) turns the result tables (docs/design.md §5.5) into
plain data: the run's configuration in brief, the answers to the study's two questions as
sentences with numbers (:mod:`.answers`), formatted tables and the figures to show.
:func:`render_report` (:mod:`.html`) writes that context as one HTML file with inline CSS and the
figures embedded as base64 PNG, so the page opens anywhere, offline, and can be mailed as one
file. All text that comes from data or config is HTML-escaped at rendering. The public names are
re-exported here (``from ferattention import report; report.build_report_context(...)``).
"""

from .answers import (
    NORMALISED_NOTE,
    QUESTION_ACCURACY,
    QUESTION_AGREEMENT,
    QUESTION_SIMILARITY,
    SOURCE_DESCRIPTIONS,
    accuracy_answers,
    agreement_answers,
    config_summary,
    format_number,
    format_p,
    planted_attention_sentences,
    pooled_accuracy_sentences,
    similarity_answers,
    verdict_sentences,
)
from ..stats import normalization_span, unreliable_normalization
from .html import render_html, render_report
from .sections import (
    FIGURE_CAPTIONS,
    SIMULATED_NOTICE,
    TABLE_TITLES,
    TITLE,
    build_report_context,
    extra_tables,
    extremal_areas_summary,
    faithfulness_summary,
    format_frame,
    format_tables,
    provenance,
    region_summary,
)

__all__ = [
    "FIGURE_CAPTIONS", "NORMALISED_NOTE", "QUESTION_ACCURACY", "QUESTION_AGREEMENT",
    "QUESTION_SIMILARITY", "SIMULATED_NOTICE", "SOURCE_DESCRIPTIONS", "TABLE_TITLES", "TITLE",
    "accuracy_answers", "agreement_answers", "build_report_context", "config_summary",
    "extra_tables", "extremal_areas_summary", "faithfulness_summary", "format_frame",
    "format_number", "format_p", "format_tables", "normalization_span",
    "planted_attention_sentences", "pooled_accuracy_sentences", "provenance", "region_summary", "render_html",
    "render_report", "similarity_answers", "unreliable_normalization", "verdict_sentences",
]
