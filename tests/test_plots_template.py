"""Tests for the committed offline DVC plots template and the custom vega-lite templates beside it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "dvc_plots_template"
OFFLINE = TEMPLATE_DIR / "offline.html"


def test_offline_template_has_no_cdn_and_dvc_placeholder() -> None:
    html = OFFLINE.read_text(encoding="utf-8")
    assert html.count("{plot_divs}") == 1
    assert html.count("{refresh_tag}") == 1
    # The scripts placeholder would make dvc-render insert its CDN <script src> tags.
    assert "{scripts}" not in html
    assert not re.search(r"<script[^>]*\bsrc\s*=", html, flags=re.IGNORECASE)
    assert not re.search(r"""src\s*=\s*["']?https?://""", html, flags=re.IGNORECASE)
    for package in ("vega@5.20.2", "vega-lite@5.2.0", "vega-embed@6.18.2"):
        assert f'<script data-package="{package}">' in html


def test_rendered_page_loads_nothing_from_the_network(tmp_path: Path) -> None:
    dvc_render = pytest.importorskip("dvc_render")
    from dvc_render.vega import VegaRenderer

    datapoints = [{"epoch": "1", "loss": "2.0", "rev": "workspace"}, {"epoch": "2", "loss": "1.5", "rev": "workspace"}]
    renderer = VegaRenderer(datapoints, "history.tsv", x="epoch", y="loss")
    out = tmp_path / "index.html"
    dvc_render.render_html([renderer], out, html_template=str(OFFLINE))
    page = out.read_text(encoding="utf-8")
    assert "vegaEmbed('#" in page
    assert "cdn.jsdelivr.net" not in page
    assert "{plot_divs}" not in page


@pytest.mark.parametrize(
    ("name", "data", "x", "y"),
    [
        ("roc.json", [{"emotion": "happy", "fpr": "0", "tpr": "0.5", "rev": "workspace"}], "fpr", "tpr"),
        (
            "grouped_bar.json",
            [{"trial": "l2", "metric": "accuracy", "value": "0.1", "rev": "workspace"}],
            "trial",
            "value",
        ),
        (
            "class_distribution.json",
            [{"emotion": "disgust", "count": "174", "stage": "after", "rev": "workspace"}],
            "emotion",
            "count",
        ),
    ],
)
def test_custom_vega_templates_fill(name: str, data: list[dict], x: str, y: str) -> None:
    pytest.importorskip("dvc_render")
    from dvc_render.vega import VegaRenderer

    renderer = VegaRenderer(data, name, template=str(TEMPLATE_DIR / name), x=x, y=y, title="t")
    spec = json.loads(renderer.partial_html())
    assert spec["data"]["values"][0]["rev"] == "workspace"
    assert "<DVC_METRIC" not in json.dumps(spec)
