"""The monitor page in a real headless Chromium (Debian's), driven by Playwright for Python."""

from __future__ import annotations

import shutil
from pathlib import Path

from monitor_helpers import wait_until

from km3flow.controlhost.replay import iter_daq_frames
from km3flow.io.daq import parse_frame

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _browser(playwright, profile: Path):
    executable = shutil.which("chromium") or CHROMIUM
    assert Path(executable).exists(), ("Debian's chromium is needed (./km3 test installs it as "
                                       "root: apt-get install chromium)")
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=executable, args=FLAGS, headless=True,
        viewport={"width": 1400, "height": 1500})


def test_page_updates_live_in_chromium(live, testdata, tmp_path):
    from playwright.sync_api import sync_playwright

    detx = testdata("detx/D_ORCA006_t.A02181836.p.A02181837.r.A02182001.detx")
    sum_path = testdata("daq/IO_SUM.dat")
    frames = [bytes(f) for _, _, f in iter_daq_frames(sum_path)]
    first_only = tmp_path / "IO_SUM_first_frame.dat"  # a copy holding the first slice only
    first_only.write_bytes(frames[0])
    n_first = len(parse_frame(frames[0], path="first")["Summaryslice"])
    all_ids = {int(i) for f in frames for i in parse_frame(f, path="x")["Summaryslice"]["dom_id"]}
    assert n_first < len(all_ids)
    events = [parse_frame(f, path="evt") for _, _, f in iter_daq_frames(testdata("daq/IO_EVT.dat"))]

    mon = live("--detector", str(detx))
    mon.replay(first_only)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = _browser(p, tmp_path / "profile")
        try:
            page = browser.new_page()
            page.on("pageerror", lambda err: errors.append(str(err)))
            page.goto(mon.url + "/")
            page.wait_for_function(
                f"document.getElementById('heatmap').dataset.ndoms === '{n_first}'",
                timeout=30000)
            load_id = page.evaluate("window.km3.loadId")
            updates = page.evaluate("window.km3.updates")
            # a new replay: all DOMs of the file appear without a reload
            mon.replay(sum_path)
            page.wait_for_function(
                f"document.getElementById('heatmap').dataset.ndoms === '{len(all_ids)}'",
                timeout=30000)
            assert page.evaluate("window.km3.loadId") == load_id
            assert page.evaluate("window.km3.updates") > updates
            assert page.text_content("#n-doms") == str(len(all_ids))
            cells = page.evaluate("""() => document.getElementById('heatmap').data[0].z
                                     .flat().filter(v => v !== null).length""")
            assert cells == len(all_ids)
            # the event display draws the latest event's hits, triggered ones apart
            mon.replay(testdata("daq/IO_EVT.dat"))
            last = events[-1]
            page.wait_for_function(
                "document.getElementById('zt').dataset.frame === "
                f"'{int(last['EventInfo']['frame_index'][0])}'", timeout=30000)
            drawn = page.evaluate("""() => {
                const traces = document.getElementById('zt').data;
                const n = (t) => t.x.length;
                return {all: traces.reduce((s, t) => s + n(t), 0),
                        triggered: traces.filter(t => t.name.endsWith('triggered'))
                                         .reduce((s, t) => s + n(t), 0)}; }""")
            assert drawn["all"] == len(last["Hits"])
            assert drawn["triggered"] == int(last["Hits"]["triggered"].sum()) > 0
            assert page.is_visible("#event3d")
            # click a DOM (a real mouse click on its heatmap cell): its 31 PMT rates
            target = page.evaluate("""() => {
                const gd = document.getElementById('heatmap');
                const fl = gd._fullLayout, z = gd.data[0];
                for (let f = 0; f < z.y.length; f++) for (let c = 0; c < z.x.length; c++) {
                    if (z.customdata[f][c] !== null) {
                        const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
                        return {id: z.customdata[f][c],
                                x: box.left + fl.xaxis.c2p(c),  // a category axis: by index
                                y: box.top + fl.yaxis.d2p(z.y[f])};
                    } } }""")
            page.mouse.click(target["x"], target["y"])
            page.wait_for_function(
                f"document.getElementById('pmt').dataset.dom === '{target['id']}'",
                timeout=30000)
            bars = page.evaluate("document.getElementById('pmt').data[0].y.length")
            assert bars == 31
            wait_until(lambda: page.evaluate("window.km3.updates") > updates + 2)
            shot = tmp_path / "monitor.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
    assert errors == []
