"""The report in a real browser: headless Chromium, no network.

Draws every chart, takes a screenshot, and proves the hostile post did not
run: its script would set document.title / call alert, its <img onerror>
would become an element. A probe script (added to a copy of the report, never
to the report itself) hovers the busiest-day markers so plotly's hover labels
with post text are rendered too, then writes what it found into the DOM that
``--dump-dom`` returns. Install Chromium with scripts/install_test_browser.sh.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from bs4 import BeautifulSoup

from crowdpulse.report import render_report
from test_report import expected_figures, make_report_data

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1366,4000", "--virtual-time-budget=15000",
         # no network at all: every host resolves nowhere
         "--host-resolver-rules=MAP * ~NOTFOUND"]

TRAP = ("<script>window.__alerts=[];window.alert=window.confirm=window.prompt="
        "function(m){window.__alerts.push(String(m));};</script>")

PROBE = """<script>
(function(){
  var plots = Array.prototype.slice.call(document.querySelectorAll('.js-plotly-plot'));
  var hovered = 0;
  plots.forEach(function(gd){
    (gd.data || []).forEach(function(tr, i){
      if (tr.hovertext && tr.name && tr.name.indexOf('busiest') === 0) {
        try { Plotly.Fx.hover(gd, [{curveNumber: i, pointNumber: 0}]); hovered++; } catch (e) {}
      }
    });
  });
  var hoverText = Array.prototype.map.call(document.querySelectorAll('.hoverlayer'), function(h){ return h.textContent; }).join(' | ');
  var out = {
    title: document.title,
    alerts: window.__alerts,
    plots: plots.length,
    drawn: plots.filter(function(gd){ return gd.querySelector('.main-svg'); }).length,
    mainSvg: document.querySelectorAll('.js-plotly-plot .main-svg').length,
    expected: window.CROWDPULSE_FIGURES,
    hovered: hovered,
    hoverText: hoverText,
    hoverElements: document.querySelectorAll('.hoverlayer img, .hoverlayer script, .hoverlayer b').length,
    injectedImgs: document.querySelectorAll('img').length,
    injectedScripts: Array.prototype.filter.call(document.querySelectorAll('script'), function(el){ return el.textContent.trim().indexOf("document.title='PWNED'") === 0; }).length
  };
  var pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def _run(args, tmp_path, timeout=180):
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          timeout=timeout)
    return proc


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (scripts/install_test_browser.sh)")
def test_report_renders_in_chromium_and_hostile_post_stays_text(tmp_path):
    data = make_report_data(hostile=True)
    html = render_report(data)
    report = tmp_path / "report.html"
    report.write_text(html, encoding="utf-8")
    probe_copy = tmp_path / "probe.html"
    probe_copy.write_text(html.replace("<head>", "<head>" + TRAP, 1).replace("</body>", PROBE + "</body>", 1),
                          encoding="utf-8")

    proc = _run(["--dump-dom", probe_copy.as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    soup = BeautifulSoup(proc.stdout.decode("utf-8", errors="replace"), "lxml")
    probe = soup.find("pre", id="probe")
    assert probe is not None, "the probe did not run: the page's scripts failed"
    found = json.loads(probe.get_text())
    n = expected_figures(data)
    assert found["expected"] == n
    assert found["plots"] == n and found["drawn"] == n, found  # every chart drawn
    assert found["mainSvg"] >= n
    # the hostile post did not execute anywhere
    assert found["title"] == "test <report>", found["title"]
    assert found["alerts"] == []
    assert found["injectedImgs"] == 0 and found["injectedScripts"] == 0
    # hover labels rendered the post as text, not markup
    assert found["hovered"] >= 2
    assert "<script>" in found["hoverText"] and "onerror" in found["hoverText"]
    assert found["hoverElements"] == 0
    # and the table shows it as text
    cells = [td.get_text() for td in soup.select("table.posts td.text")]
    assert any("<script>document.title='PWNED'</script>" in c for c in cells)
    assert not soup.select("table.posts a[href^=javascript]")

    shot = tmp_path / "report.png"
    proc = _run([f"--screenshot={shot}", report.as_uri()], tmp_path)
    assert proc.returncode == 0 and shot.exists()
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    assert img.size == (1366, 4000)
    colors = img.resize((200, 580)).getcolors(maxcolors=1_000_000)
    assert colors is not None and len(colors) > 200  # charts in colour, not a blank page
