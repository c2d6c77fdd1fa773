"""The bedside page in a real browser (Debian's chromium through selenium) against a real monitor on the virtual
band, in a process of its own: the alarm shown and its sound playing after the one tap, Acknowledge reaching the
monitor, the triage questions as a form, and the page's own FAULT with sound after the monitor is killed.

Screenshots at a phone's size go to $ANKLET_SCREENSHOTS (default: the test's temporary folder)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from anklet.store import Store

HERE = Path(__file__).parent
TOKEN = "browser-test-token-0123456789"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("Debian's chromium and chromium-driver are not installed and could not be (make sysdeps installs them)",
                allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT_S = 60  # generous: the machine may be busy; nothing here is timed on it except the FAULT bound below


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MonitorProcess:
    def __init__(self, tmp_path: Path) -> None:
        self.db = tmp_path / "night.db"
        self.port = free_port()
        self.err = open(tmp_path / "monitor.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, str(HERE / "web_rig.py"), str(self.db), str(self.port), TOKEN],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.url = self.expect("URL ")

    def expect(self, prefix: str) -> str:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"the monitor process ended: {(self.db.parent / 'monitor.log').read_text()[-2000:]}")
            if line.startswith(prefix):
                return line[len(prefix):].strip()

    def until(self, second: int) -> None:
        """Let the band live up to this second of the night, and wait until it has."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"until {second}\n")
        self.proc.stdin.flush()
        while int(self.expect("AT ")) < second:
            pass

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.err.close()


@pytest.fixture
def monitor(tmp_path):
    m = MonitorProcess(tmp_path)
    yield m
    m.close()


@pytest.fixture
def browser(tmp_path):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=390,844", f"--user-data-dir={tmp_path / 'chromium'}"):
        opts.add_argument(flag)  # no autoplay override: the page's own tap must be what allows sound
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    try:
        driver = webdriver.Chrome(options=opts, service=service)
    except Exception as exc:  # pragma: no cover - a broken browser install says why
        pytest.fail(f"chromium did not start: {exc}")
    driver.set_window_size(390, 844)
    yield driver
    driver.quit()


def shots_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("ANKLET_SCREENSHOTS") or tmp_path / "shots")
    d.mkdir(parents=True, exist_ok=True)
    return d


def text(driver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def wait_for(driver, check, what: str, timeout: float = WAIT_S):
    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: check(d), message=what)


def audio(driver) -> dict:
    return driver.execute_script("const a = document.getElementById('alarm');"
                                 "return {paused: a.paused, t: a.currentTime, loop: a.loop, err: a.error && a.error.code};")


def playing(driver) -> bool:
    """The alarm sound is playing: not paused, and its time moves on."""
    a = audio(driver)
    if a["paused"]:
        return False
    t0 = a["t"]
    time.sleep(0.5)
    b = audio(driver)
    return not b["paused"] and b["t"] != t0


def acked_by(db: Path) -> list[str | None]:
    store = Store(db)
    try:
        return [a.acked_by for a in store.alarms() if a.level == "alarm"]
    finally:
        store.close()


def test_the_page_on_a_phone_alarms_acknowledges_asks_and_faults(monitor, browser, tmp_path):
    shots = shots_dir(tmp_path)
    d = browser
    d.get(monitor.url)
    monitor.until(20)
    wait_for(d, lambda d: text(d, "title") == "All quiet", "the quiet state")
    assert "Tap once to turn on the alarm sound" in text(d, "enable")
    assert text(d, "link") == "connected" and text(d, "battery").endswith("%") and text(d, "worn") == "yes"
    d.save_screenshot(str(shots / "1-quiet.png"))

    # Before the tap, the browser refuses to make a sound: the tap is what turns it on.
    refused = d.execute_async_script("const done = arguments[arguments.length - 1];"
                                     "document.getElementById('alarm').play().then(() => done('played'),"
                                     " (e) => done(e.name));")
    assert refused == "NotAllowedError"
    d.find_element(By.ID, "enable").click()
    wait_for(d, lambda d: d.find_element(By.ID, "soundok").is_displayed(), "sound turned on")
    assert audio(d)["paused"]  # nothing to sound yet

    monitor.until(52)  # ALARM at 50 s of the night, the episode still going
    wait_for(d, lambda d: text(d, "title") == "ALARM", "the ALARM on the page")
    assert "PROLONGED RHYTHMIC SHAKING" in text(d, "reason") and "check on the baby now" in text(d, "reason")
    assert text(d, "since").startswith("Still going: rhythmic movement for")
    assert "First noticed" in text(d, "since")
    assert text(d, "episode").startswith("rhythmic movement for")
    wait_for(d, playing, "the alarm sound playing")
    assert audio(d)["loop"] and not audio(d)["err"]
    d.save_screenshot(str(shots / "2-alarm.png"))

    d.find_element(By.ID, "name").send_keys("Dad's phone")
    d.find_element(By.ID, "ack").click()
    wait_for(d, lambda d: acked_by(monitor.db) == ["web page (Dad's phone, 127.0.0.1)"], "the acknowledgement in the log")
    wait_for(d, lambda d: text(d, "title") == "Acknowledged", "acknowledged on the page")
    wait_for(d, lambda d: audio(d)["paused"], "the sound stopped")
    assert "by web page (Dad's phone" in text(d, "acked")
    assert not d.find_element(By.ID, "ack").is_displayed()  # nothing left to acknowledge
    d.execute_script("window.scrollTo(0, 0)")
    d.save_screenshot(str(shots / "3-acknowledged.png"))

    monitor.until(90)  # the episode ended at 70 s: the questions are offered
    wait_for(d, lambda d: d.find_element(By.ID, "triage").is_displayed(), "the triage offer")
    d.find_element(By.ID, "triage-start").click()
    wait_for(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#triage-form .q")) > 5, "the questions")
    questions = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#triage-form .q p")]
    assert questions[0].startswith("During or right after the shaking, was the baby unresponsive")
    d.execute_script("document.querySelector('#triage-form .q').scrollIntoView()")
    d.save_screenshot(str(shots / "4-triage.png"))
    label = d.find_element(By.XPATH, "//input[@name='observations.breathing_change' and @value='yes']/..")
    d.execute_script("arguments[0].scrollIntoView()", label)
    label.click()
    submit = d.find_element(By.CSS_SELECTOR, "#triage-form button[type=submit]")
    d.execute_script("arguments[0].scrollIntoView()", submit)
    submit.click()
    wait_for(d, lambda d: d.find_element(By.ID, "result").is_displayed(), "the advice")
    store = Store(monitor.db)
    try:
        [ep] = store.episodes()
        saved = store.triage_for(ep.id)
    finally:
        store.close()
    assert saved["result"]["level"] == "emergency"
    assert saved["result"]["headline"] in text(d, "result")
    for reason in saved["result"]["reasons"]:  # each with the document it comes from
        assert f"{reason['reason']} (source: {reason['source']})" in text(d, "result")
    d.execute_script("document.getElementById('result').scrollIntoView()")
    d.save_screenshot(str(shots / "5-advice.png"))
    d.execute_script("window.scrollTo(0, 0)")

    # The monitor dies without a word: the page raises its own FAULT, with sound, after 10 s of silence.
    wait_for(d, lambda d: text(d, "title") == "All quiet" or text(d, "title") == "Acknowledged", "settled")
    killed = time.time()
    monitor.kill()
    wait_for(d, lambda d: text(d, "title") == "FAULT: NO CONTACT WITH THE MONITOR", "the page's FAULT", timeout=30)
    fault_after = d.execute_script("return (faultAt - lastHeard) / 1000;")
    seen_after = d.execute_script("return faultAt;") / 1000 - killed
    assert 10 <= fault_after < 12  # silence the page measured itself
    assert seen_after <= 10.5 + 5  # after the kill; 5 s of slack for a busy machine (typically 8-10.5 s)
    assert "may NOT be watched" in text(d, "reason")
    wait_for(d, playing, "the FAULT sound playing")
    d.save_screenshot(str(shots / "6-fault.png"))
    assert text(d, "link") == "unknown: no contact with the monitor"  # never the last known state as if current
    d.execute_script("document.getElementById('info').scrollIntoView()")
    d.save_screenshot(str(shots / "7-fault-details.png"))
    d.execute_script("window.scrollTo(0, 0)")
    print(f"page FAULT {seen_after:.1f} s after the monitor was killed ({fault_after:.1f} s of silence)")
    d.find_element(By.ID, "silence").click()
    wait_for(d, lambda d: audio(d)["paused"], "silenced on this phone")
