"""The notebooks run top to bottom on the bundled capture, and are committed with their outputs.

Also: the summary Jupyter shows for a Capture escapes everything the capture carries."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from views_common import INJECTION, ROOT, SAMPLE, read

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_the_two_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["01-tour.ipynb", "02-incident.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_without_error(path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # the charts and the ladder were drawn


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_has_its_outputs(path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs for c in code), "execute the notebook and save it with its outputs"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "run top to bottom in one go"


def test_capture_repr_html_escapes_the_capture():
    page = read(INJECTION)._repr_html_()

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags = set()

        def handle_starttag(self, tag, attrs):
            self.tags.add(tag)
            assert all(not name.startswith("on") for name, _ in attrs)

    parser = Tags()
    parser.feed(page)
    assert parser.tags <= {"div", "b", "br", "ul", "li", "code", "table", "thead", "tbody", "tr", "th", "td", "small"}
    assert "&lt;" in page and not re.search(r"<(script|img|svg|iframe)", page, re.IGNORECASE)


def test_capture_repr_html_says_what_is_inside():
    cap = read(SAMPLE)
    page = cap._repr_html_()
    assert "smtp-sample.pcap" in page and f"<b>{len(cap.sessions)}</b> SMTP sessions" in page
    for name, frame in cap.tables.items():
        assert f"<code>cap.{name}</code></td><td style=\"text-align:right\">{len(frame)}</td>" in page
    assert "550 5.1.1 &lt;…&gt;: Recipient address rejected: User unknown" in page
