"""The Mermaid ladder, read by Mermaid itself (its browser bundle in Debian's chromium): every
session's diagram parses, renders one message per turn, and shows the capture's text literally.

The bundle comes from the npm registry (``npm pack mermaid``, see .ci/run), named by
SMTPSNIFF_MERMAID_JS; without it these tests are skipped."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from views_common import INJECTION, SAMPLE, read
from smtpsniff.analysis.conversation import conversation
from smtpsniff.output.ladder import mermaid
from smtpsniff.output.safe import terminal_safe

BUNDLE = os.environ.get("SMTPSNIFF_MERMAID_JS", "")
CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(not (BUNDLE and Path(BUNDLE).is_file() and Path(CHROMIUM).exists()),
                                reason="needs SMTPSNIFF_MERMAID_JS (mermaid.min.js) and Debian's chromium")


@pytest.fixture(scope="module")
def mermaid_page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                                     "--disable-background-networking"])
        page = browser.new_page()
        page.dialogs, page.errors = [], []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.set_content("<html><body><div id='out'></div></body></html>")
        page.add_script_tag(path=BUNDLE)
        page.evaluate("mermaid.initialize({startOnLoad: false, securityLevel: 'strict'})")
        yield page
        browser.close()


def render(page, text: str) -> tuple[str, list[str]]:
    """Parse (raises on a syntax error) and render; the diagram's message texts in order."""
    result = page.evaluate("""async text => {
        try { await mermaid.parse(text); } catch (e) { return {error: String(e)}; }
        const {svg} = await mermaid.render('d' + Math.floor(Math.random() * 1e9), text);
        document.getElementById('out').innerHTML = svg;
        const messages = [...document.querySelectorAll('#out .messageText')].map(t => t.textContent);
        const notes = [...document.querySelectorAll('#out .noteText')].map(t => t.textContent);
        return {messages, notes};
    }""", text)
    assert "error" not in result, result.get("error")
    return result["messages"], result["notes"]


@pytest.mark.parametrize("path", [SAMPLE, INJECTION], ids=lambda p: p.name)
def test_mermaid_parses_and_shows_the_text_literally(mermaid_page, path):
    cap = read(path)
    for records in cap.records:
        conv = conversation(records)
        messages, notes = render(mermaid_page, mermaid(conv))
        arrows = [t for t in conv.turns if t.side.value != "both"]
        boxes = [t for t in conv.turns if t.side.value == "both"]
        assert len(messages) == len(arrows) and len(notes) == len(boxes)
        for shown, turn in zip(messages, arrows):
            expected = terminal_safe(turn.label)
            assert shown == expected or (shown.endswith("…") and expected.startswith(shown[:-1])), (shown, expected)
    assert mermaid_page.dialogs == [] and mermaid_page.errors == []


def test_an_unescaped_diagram_would_fail(mermaid_page):
    """The check can fail: the same text without entities breaks Mermaid's grammar."""
    result = mermaid_page.evaluate("""async t => { try { await mermaid.parse(t); return 'ok'; }
                                      catch (e) { return 'error'; } }""",
                                   "sequenceDiagram\n    C->>S: a\n    S->>C: 250 x; end\n    end")
    assert result == "error"
