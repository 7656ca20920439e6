"""The report as one self-contained HTML page: inline CSS, the figures embedded as base64 PNG, so
the page opens anywhere, offline, and can be mailed as one file. All text that comes from data or
config is HTML-escaped here."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..io import atomic_path
from .sections import TABLE_TITLES

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       color: #222; background: #fafafa; margin: 0; line-height: 1.5; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem 2rem 3rem; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #ddd; padding-bottom: 0.2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-bottom: 0.3rem; }
.sub { color: #666; margin-top: 0; }
.notice { border: 3px solid #b00020; background: #fdecea; color: #5f0010; padding: 0.8rem 1rem;
          font-size: 1.05rem; font-weight: 600; border-radius: 4px; margin: 1rem 0; }
.answers li { margin-bottom: 0.4rem; }
.overall { font-weight: 600; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.kv th { width: 12rem; }
figure { margin: 1.5rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9rem; margin-top: 0.3rem; }
.note { color: #444; font-size: 0.9rem; }
footer { color: #777; font-size: 0.85rem; margin-top: 2rem; }
"""

def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _html_table(table: Mapping[str, list]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in table["columns"])
    body = []
    for row in table["rows"]:
        cells = "".join(
            f'<td class="num">{_e(v)}</td>' if num else f"<td>{_e(v)}</td>"
            for v, num in zip(row, table["numeric"])
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _embedded_png(path: str | os.PathLike, name: str) -> str:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"report: figure {name!r} not found at {path}")
    data = path.read_bytes()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError(f"report: figure {name!r} at {path} is not a PNG file")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def render_html(context: Mapping[str, Any]) -> str:
    """The report page as one HTML string (figures embedded, CSS inline, every data text escaped)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(context['title'])}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(context['title'])}</h1>",
        f'<p class="sub">Workflow report, ferattention {_e(context["version"])}. Question, answer, '
        f"then the evidence: tables and figures.</p>",
        f'<p class="sub">{_e(context.get("provenance", ""))}</p>',
    ]
    if context.get("simulated_notice"):
        parts.append(f'<div class="notice" role="alert">{_e(context["simulated_notice"])}</div>')
    kv = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in context["config_summary"])
    parts += ["<h2>This run</h2>", f'<table class="kv"><tbody>{kv}</tbody></table>']

    parts.append('<h2>Answers</h2><div class="answers">')
    parts.append(f"<h3>{_e(context['question_accuracy'])}</h3>")
    acc = context["answer_accuracy"] or ["No model accuracy in the accuracy table."]
    parts.append("<ul>" + "".join(f"<li>{_e(s)}</li>" for s in acc) + "</ul>")
    if context.get("answer_agreement"):
        parts.append(f"<h3>{_e(context['question_agreement'])}</h3>")
        parts.append("<ul>" + "".join(f"<li>{_e(s)}</li>" for s in context["answer_agreement"])
                     + "</ul>")
    parts.append(f"<h3>{_e(context['question_similarity'])}</h3>")
    overall = context["answer_similarity_overall"]
    if context.get("answer_similarity_planted"):
        parts.append('<p class="note">' + " ".join(_e(t) for t in context["answer_similarity_planted"])
                     + "</p>")
    verdict = context.get("answer_similarity_verdict") or []
    secondary = "" if verdict else ' class="overall"'   # untested wins lead only without a verdict
    parts.append("<ul>" + "".join(f'<li class="overall">{_e(s)}</li>' for s in verdict)
                 + "".join(f"<li{secondary}>{_e(s)}</li>" for s in overall)
                 + "".join(f"<li>{_e(s)}</li>" for s in context["answer_similarity"]) + "</ul>")
    if not overall and not context["answer_similarity"]:
        parts.append("<p>No similarity results in the summary table.</p>")
    if context.get("normalised_note"):
        parts.append(f'<p class="note">{_e(context["normalised_note"])}</p>')
    parts.append("</div>")

    titles = context.get("table_titles", TABLE_TITLES)
    parts.append("<h2>Tables</h2>")
    for key, table in context["tables"].items():
        parts.append(f"<h3>{_e(titles.get(key, key))}</h3>{_html_table(table)}")
        if key == "similarity_summary" and context.get("normalised_note"):
            parts.append(f'<p class="note">{_e(context["normalised_note"])}</p>')

    if context["figures"]:
        parts.append("<h2>Figures</h2>")
    for fig in context["figures"]:
        src = _embedded_png(fig["path"], fig["name"])
        parts.append(f'<figure id="fig-{_e(fig["name"])}"><img src="{src}" alt="{_e(fig["name"])}">'
                     f"<figcaption>{_e(fig['caption'])}</figcaption></figure>")
    parts.append("<footer>Every figure is also in results/figures/ as PNG and PDF; the full "
                 "per-image results are in results/tables/similarity.csv. "
                 + _e(context.get("provenance", "")) + "</footer>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def render_report(context: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write the report of ``context`` (from :func:`build_report_context`) to ``path`` atomically."""
    text = render_html(context)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
