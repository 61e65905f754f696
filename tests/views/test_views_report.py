"""The HTML report in a real browser (Debian's chromium driven by Playwright): it renders its
sections and charts, fetches nothing, and a capture full of script and HTML injection runs no
script and shows that text literally."""
from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from views_common import INJECTION, SAMPLE, read
from smtpsniff.analysis.charts import CHARTS
from smtpsniff.output.report import render_report, write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SECTIONS = ("summary", "charts", "findings", "sessions", "errors", "error-replies", "credentials", "messages",
            "attachments", "anomalies")

needs_browser = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """The reports of the sample and the injection capture, written once for every test here."""
    folder = tmp_path_factory.mktemp("reports")
    out = {}
    for capture in (SAMPLE, INJECTION):
        out[capture.stem] = write_report(read(capture), folder / f"{capture.stem}.html")
    return out


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watched:
    """A page with every script sign recorded: dialogs, page errors, console messages, requests."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.dialogs, self.errors, self.console, self.requests = [], [], [], []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.console.append(m.text))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")

    def close(self):
        self.page.close()


@needs_browser
@pytest.mark.browser
def test_sample_report_renders_sections_and_charts(browser, reports):
    path = reports[SAMPLE.stem]
    w = Watched(browser, path)
    page = w.page
    for section in SECTIONS:
        assert page.locator(f"section#{section} h2").is_visible(), section
    cap = read(SAMPLE)
    images = page.locator("#charts figure img")
    drawn = [n for n, chart in CHARTS.items() if chart(cap).get_gid() != "empty"]
    assert images.count() == len(drawn) and len(drawn) >= 9
    for i in range(images.count()):
        img = images.nth(i)
        img.scroll_into_view_if_needed()
        assert img.evaluate("i => i.complete && i.naturalWidth > 200 && i.naturalHeight > 100"), i
    assert page.locator("#charts figure").evaluate_all("fs => fs.map(f => f.id)") == [f"chart-{n}" for n in drawn]
    # the tables are the tables
    assert page.locator("#sessions tbody tr").count() == len(cap.sessions)
    assert page.locator("#messages tbody tr").count() == len(cap.messages)
    assert page.locator("#attachments tbody tr").count() == len(cap.attachments)
    assert page.locator("#error-replies tbody tr").count() == int((cap.replies["code"] >= 400).sum())
    assert page.locator("#findings tbody tr").count() == len(cap.findings)
    attachments = page.locator("#attachments tbody").inner_text()
    truth = json.loads(SAMPLE.with_suffix(".json").read_text())
    for session in truth["sessions"]:
        for message in session["messages"]:
            for att in message.get("attachments", []):
                assert att["filename"] in attachments and att["sha256"] in attachments
    # credentials are masked: the sidecar's passwords appear nowhere
    text = page.locator("body").inner_text()
    for session in truth["sessions"]:
        for auth in session["auth"]:
            assert auth["password"] not in text
    assert "********" in page.locator("#credentials").inner_text()
    assert not w.errors and not w.dialogs
    assert all(url.startswith(("file:", "data:")) for url in w.requests), w.requests
    w.close()


@needs_browser
@pytest.mark.browser
def test_injection_capture_runs_no_script_and_shows_the_text(browser, reports):
    path = reports[INJECTION.stem]
    w = Watched(browser, path)
    page = w.page
    page.wait_for_timeout(300)  # give an onerror handler time to fire, were there one
    assert w.dialogs == [] and w.errors == []
    assert all(url.startswith(("file:", "data:")) for url in w.requests), w.requests
    # no element the capture could have brought in
    injected = page.evaluate("""() => [...document.querySelectorAll(
        'script, iframe, svg, object, embed, img:not([src^="data:image/svg+xml;base64,"])')].length""")
    assert injected == 0
    handlers = page.evaluate("""() => [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
        .filter(a => a.name.startsWith('on')).map(a => a.name))""")
    assert handlers == []
    truth = json.loads(INJECTION.with_suffix(".json").read_text())
    sessions = page.locator("#sessions").inner_text()
    assert truth["sessions"][0]["greeting"]["lines"][0][4:] in sessions  # the banner, literally
    assert "<svg/onload=alert('helo')>" in sessions
    assert "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[31mterm.evil.test" in sessions
    messages = page.locator("#messages").inner_text()
    assert truth["sessions"][0]["messages"][0]["subject_decoded"] in messages
    assert "\"<img src=x onerror=alert('from')>\" <attacker@evil.test>" in messages
    assert "\"<script>alert('mailfrom')</script>\"@evil.test" in messages
    attachments = page.locator("#attachments").inner_text()
    for att in truth["sessions"][0]["messages"][0]["attachments"]:
        assert att["filename"] in attachments
    errors = page.locator("#error-replies").inner_text()
    assert "500 Error: command \"<IMG/SRC=X/ONERROR=ALERT('CMD')>\" not recognized"[4:] in errors
    csp = page.locator("meta[http-equiv='Content-Security-Policy']").get_attribute("content")
    assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe" not in csp
    w.close()


def test_report_html_has_no_markup_from_the_capture(reports):
    """Independently of a browser: parse the page and list every tag and attribute."""
    page = reports[INJECTION.stem].read_text()

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.attrs = set(), set()

        def handle_starttag(self, tag, attrs):
            self.tags.add(tag)
            self.attrs.update(name for name, _ in attrs)

    parser = Tags()
    parser.feed(page)
    assert parser.tags <= {"html", "head", "meta", "title", "style", "body", "header", "h1", "p", "code", "nav",
                           "a", "main", "section", "h2", "div", "span", "b", "figure", "img", "figcaption",
                           "table", "thead", "tbody", "tr", "th", "td", "footer"}
    assert parser.attrs <= {"lang", "charset", "http-equiv", "content", "name", "href", "id", "class", "src", "alt"}
    assert not re.search(r"<script|<[a-z][^>]*\son\w+\s*=", page, re.IGNORECASE)
    assert "&lt;script&gt;alert(&#39;subject&#39;)&lt;/script&gt;" in page
    for src in re.findall(r'src="([^"]*)"', page):
        assert src.startswith("data:image/svg+xml;base64,")


def test_report_style_hash_matches_the_csp(reports):
    import base64
    import hashlib
    page = reports[SAMPLE.stem].read_text()
    css = re.search(r"<style>(.*?)</style>", page, re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    import html
    assert f"style-src 'sha256-{digest}'" in html.unescape(page)


def test_report_lists_at_most_report_max_rows(monkeypatch):
    from smtpsniff.limits import Limits
    from smtpsniff.output import report
    monkeypatch.setattr(report, "_charts", lambda cap: ([], []))  # the rows are what this test is about
    page = render_report(read(SAMPLE), limits=Limits(report_max_rows=2))
    assert page.count("… and 6 more rows") == 1  # sessions: 8
    sessions = page.split('<section id="sessions">')[1].split("</section>")[0]
    assert sessions.count("<tr>") == 1 + 2  # the heading row and two sessions


def test_report_filter_and_secrets(tmp_path, reports, capsys):
    from smtpsniff.cli import main
    path = tmp_path / "filtered.html"
    args = ["report", str(SAMPLE), "-o", str(path), "--filter", "smtp.response.code == 535", "--show-secrets"]
    assert main(args) == 0
    assert capsys.readouterr().out == f"wrote {path}\n"
    page = path.read_text()
    assert "carol2024" in page  # shown on request
    assert "smtp.response.code == 535" in page
    assert page.count("127.0.0.1:60353") >= 1 and "127.0.0.1:50580" not in page
    masked = reports[SAMPLE.stem].read_text()
    assert "carol2024" not in masked and "c@rol-2024" not in masked


@needs_browser
@pytest.mark.browser
def test_the_watchers_see_a_script_when_there_is_one(browser, tmp_path):
    """The listeners above would catch an injection: an unescaped page trips them."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><img src=x onerror=\"alert('x')\"><script>undefinedCall()</script></body></html>")
    w = Watched(browser, page)
    w.page.wait_for_timeout(300)
    assert w.dialogs == ["x"] and any("undefinedCall" in e for e in w.errors)
    w.close()
