"""The labelling page in a real headless Chromium, by keyboard only: answer, undo, reload, restart.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package; skipped with the
reason where they are absent, except under ``FRBENCH_REQUIRE_BROWSER=1`` (set by .ci/run, which
installs them), where their absence fails. The page's screenshot with a Monk tone selected is
left in the test's tmp dir as ``label-page.png``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import default_sigint

from frbench.label.files import TOOL, parse_utc, read_label_file
from frbench.label.order import labelling_order
from tests.label.test_server import SUBJECTS, TINY, tiny_config

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,900")  # fmt: skip
SEED = 3


def _missing() -> str | None:
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install 'frbench[test]')"
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "chromium and chromedriver not found (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture()
def browser(tmp_path):
    why = _missing()
    if why is not None:
        if os.environ.get("FRBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail(f"FRBENCH_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    home = tmp_path / "browser-home"
    home.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chrome-profile'}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # Chromium writes caches under $HOME; keep them in the tmp dir
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache")}
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"), env=env)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(600)
    yield driver
    driver.quit()


class Server:
    """``frbench label skin-tone`` run as a user runs it, in a process of its own."""

    def __init__(self, config: Path, labels: Path, processes: list[subprocess.Popen]) -> None:
        cmd = [sys.executable, "-m", "frbench.cli", "label", "skin-tone", str(config), "--annotator", "tester",
               "--port", "0", "--seed", str(SEED), "-o", str(labels)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
        processes.append(self.proc)  # the fixture kills it at teardown if the test fails first
        # the URL line is the event "listening" (or EOF if the server failed): no timeout to guess
        line = self.proc.stdout.readline()
        if not line.startswith("http://127.0.0.1:"):
            raise AssertionError(f"no URL from the server; stderr: {self.proc.stderr.read()}")
        self.url = line.strip()

    def stop(self) -> str:
        """Ctrl-C, as a user stops it (exit status 130); returns its stderr."""
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate()
        assert self.proc.returncode == 130, err
        return err


def wait_ready(driver, subject: str | None = None, done: int | None = None) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        body = d.find_element("tag name", "body")
        return (
            body.get_attribute("data-ready") == "1"
            and (subject is None or body.get_attribute("data-subject") == subject)
            and (done is None or body.get_attribute("data-done") == str(done))
        )

    WebDriverWait(driver, 600).until(ready)  # a guard, not a guess of the machine's speed


def keys(driver, text: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(text).perform()


def on_screen(driver) -> str:
    return driver.find_element("tag name", "body").get_attribute("data-subject")


def test_label_by_keyboard_reload_and_resume(tmp_path, browser, processes):
    config = tiny_config(tmp_path)
    labels = tmp_path / "labels" / "annotator-tester.csv"
    order = labelling_order(SUBJECTS, seed=SEED)
    server = Server(config, labels, processes)
    try:
        browser.get(server.url)
        wait_ready(browser, order[0], 0)
        keys(browser, "3")
        keys(browser, "l")
        wait_ready(browser, order[1], 1)
        keys(browser, "d")
        wait_ready(browser, order[2], 2)
        keys(browser, "0")
        keys(browser, "u")
        wait_ready(browser, order[3], 3)
        keys(browser, "5")
        keys(browser, "l")
        wait_ready(browser, order[4], 4)
        keys(browser, "z")  # undo: the last subject comes back, its answer gone from the file
        wait_ready(browser, order[3], 3)
        assert len(read_label_file(labels)) == 3
        keys(browser, "6")
        body = browser.find_element("tag name", "body")
        assert body.get_attribute("data-monk") == "6"
        screenshot = tmp_path / "label-page.png"
        browser.save_screenshot(str(screenshot))
        keys(browser, "d")
        wait_ready(browser, order[4], 4)

        browser.refresh()
        wait_ready(browser)
        assert on_screen(browser) == order[4]
        assert browser.find_element("id", "progress").text == "4 / 6 labelled"
        shown = len(browser.find_elements("css selector", "#photos img"))
        requests = [json.loads(e["message"])["message"] for e in browser.get_log("performance")]
        base = server.url.rstrip("/")
    finally:
        stopped = server.stop()
    assert "stopped by SIGINT; 4 of 6 answered" in stopped

    # every network request went to this server (chrome:// and data: ones are the browser's start page)
    urls = [m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"]
    network = [u for u in urls if u.split(":", 1)[0] in ("http", "https", "ws", "wss")]
    assert any("/crop/" in u for u in network) and all(u.startswith(base + "/") for u in network), network
    images_of = {subject: n for subject, n, _ in TINY}
    assert shown == min(4, images_of[order[4]])  # --photos defaults to 4

    rows = read_label_file(labels)
    assert rows["subject_id"].tolist() == order[:4]
    assert rows["skin_tone_binary"].tolist() == ["lighter", "darker", "unsure", "darker"]
    assert rows["monk"].tolist() == ["3", "", "10", "6"]
    assert (rows["annotator"] == "tester").all() and (rows["tool"] == TOOL).all()
    times = [parse_utc(t) for t in rows["labelled_at"]]
    assert times == sorted(times)

    # a restarted server resumes at the same subject
    server = Server(config, labels, processes)
    try:
        browser.get(server.url)
        wait_ready(browser)
        assert on_screen(browser) == order[4]
    finally:
        server.stop()
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
