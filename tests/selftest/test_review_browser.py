"""`grader review` in a real browser: Chromium driven by Selenium (Debian's chromium-driver) over the running app.

The app is started as the tutor starts it (`python -m grader review --out DIR --no-browser`, a
subprocess on a random port) on a copy of the graded sample class whose submissions' private copies
are not in it (grader grade keeps none in --out). Everything is typed with the keyboard, as a tutor would.
Set REVIEW_SCREENSHOT=path.png to keep the screenshot the test takes.
"""

from __future__ import annotations

import csv
import os
import re
import select
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from classroom import KIT, manual_scores

from grader.outputs import manual

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (.ci/install installs it)")
pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None, reason="chromium and chromedriver are needed")

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402

HOSTILE_ID = "img-src-x-onerror-document-title-pwned-name-eve-4242"
TYPED = {  # submission -> (plots, report, comment) typed in the browser
    "ada-lovelace": ("5", "4", "Clear plots; the report explains the divergence at lr = 1."),
    "bob-partly-wrong": ("3.5", "2", "Accuracy plot has no log axis <b>sic</b>"),
    "carol-crash": ("0", "1", "No plots were handed in."),
}


@pytest.fixture(scope="module")
def served(graded_class, tmp_path_factory):
    """One app for the module's tests; each test grades its own submissions."""
    out = tmp_path_factory.mktemp("review") / "out"
    shutil.copytree(graded_class, out)
    assert not (out / ".intake").exists()  # the app is a view of the output folder: no copy of the submissions is in it
    (out / "manual.csv").unlink(missing_ok=True)
    app = subprocess.Popen([sys.executable, "-m", "grader", "review", "--out", str(out), "--no-browser"], cwd=KIT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        url, seen, deadline = None, "", time.monotonic() + 120
        while url is None and time.monotonic() < deadline and app.poll() is None:
            if select.select([app.stdout], [], [], 1)[0]:
                seen += app.stdout.readline()
                found = re.search(r"http://127\.0\.0\.1:\d+/[\w-]+/", seen)
                url = found and found.group(0)
        assert url, f"grader review printed no address: {seen!r}"
        yield url, out
    finally:
        app.terminate()
        app.wait(timeout=30)
        app.stdout.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--window-size=1500,1100",
                 f"--user-data-dir={tmp_path / 'profile'}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def keys(driver, *typed) -> None:
    ActionChains(driver).send_keys(*typed).perform()


def save(driver) -> None:
    """Ctrl+Enter, then wait for the page the save redirects to."""
    old = driver.find_element(By.TAG_NAME, "html")
    ActionChains(driver).key_down(Keys.CONTROL).send_keys(Keys.ENTER).key_up(Keys.CONTROL).perform()
    WebDriverWait(driver, 30).until(lambda _: gone(old))
    WebDriverWait(driver, 30).until(EC.presence_of_element_located((By.ID, "points")))


def gone(element) -> bool:
    """Is the element no longer in the page? (Chromium answers a check on a node of a page being replaced
    either as stale or as "Node with given id does not belong to the document": both mean gone.)"""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise
    return False


def wait_title(driver, title: str) -> None:
    WebDriverWait(driver, 30).until(EC.title_is(title))


def csp_problems(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_review_grades_three_submissions_by_keyboard(served, browser):
    """Can a tutor grade three submissions with the keyboard only, and do the CSV, gradebook and feedback follow?"""
    url, out = served
    browser.get(url)
    before = int(browser.find_element(By.ID, "progress").text.split()[0])  # other tests grade other submissions
    keys(browser, "n")  # from the class list: the first submission
    for number, (sid, (plots, report, comment)) in enumerate(TYPED.items()):
        wait_title(browser, f"Review: {sid}")
        keys(browser, "g")
        assert browser.switch_to.active_element.get_attribute("id") == "points-plots"
        if sid == "bob-partly-wrong":  # a wrong number first: refused with a message, nothing saved
            keys(browser, "9")
            save(browser)
            assert "'9' is not a number from 0 to 6; nothing was saved" in browser.find_element(By.CLASS_NAME, "error").text
            assert manual.read_manual(out / "manual.csv", set(TYPED)).of(sid) == {"plots": None, "report": None}
            keys(browser, "g")  # selects the 9: typing replaces it
        keys(browser, plots, Keys.TAB, report, Keys.TAB, comment)
        save(browser)
        assert browser.find_element(By.CLASS_NAME, "notice").text.startswith("saved to manual.csv")
        assert f"{before + number + 1} of 7" in browser.find_element(By.ID, "progress").text
        if sid == "bob-partly-wrong":
            shoot(browser, out)
        keys(browser, "n")
    wait_title(browser, "Review: dave-no-plots")
    keys(browser, "p")
    wait_title(browser, "Review: carol-crash")
    assert browser.find_element(By.ID, "points-report").get_attribute("value") == "1"

    sheet = manual.read_manual(out / "manual.csv", {p.stem for p in (out / "feedback").glob("*.html")})
    with open(out / "grades.csv", newline="") as handle:
        grades = {r["student"]: r for r in csv.DictReader(handle)}
    for sid, (plots, report, comment) in TYPED.items():
        assert sheet.of(sid) == {"plots": float(plots), "report": float(report)} and sheet.comments[sid] == comment
        assert (grades[sid]["plots_points"], grades[sid]["report_points"]) == (plots, report)
        assert manual_scores(out / "gradebook.db", sid) == {"plots": float(plots), "report": float(report)}
        feedback = re.sub(r"\s+", " ", (out / "feedback" / f"{sid}.html").read_text())
        assert f"plots {plots} / 6; report {report} / 4" in feedback
        assert comment.replace("<", "&lt;").replace(">", "&gt;") in feedback
    assert grades["bob-partly-wrong"]["points"] == "45.5" and grades["ada-lovelace"]["points"] == "69"
    assert sheet.of("group-eve-frank") == {"plots": None, "report": None}

    browser.find_element(By.ID, "todo-filter").click()  # the filter: only those still missing points
    wait_title(browser, "Review: exercise 02")
    listed = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#class td:first-child a")]
    assert not set(listed) & set(TYPED) and {"group-eve-frank", HOSTILE_ID, "mallory-syntax"} <= set(listed)
    assert csp_problems(browser) == []


def shoot(browser, out) -> None:
    """A screenshot of the page as the test sees it (kept at $REVIEW_SCREENSHOT when set), checked to be no blank."""
    from PIL import Image

    path = out.parent / "review.png"
    browser.save_screenshot(str(path))
    if os.environ.get("REVIEW_SCREENSHOT"):
        shutil.copyfile(path, os.environ["REVIEW_SCREENSHOT"])
    with Image.open(path) as image:
        assert image.size[0] >= 1400 and len(image.convert("RGB").getcolors(1 << 20) or []) > 200


def test_review_hostile_report_stays_text(served, browser):
    """Does a hostile REPORT.md render as Markdown text under the CSP, with no planted script or element?"""
    url, _ = served
    browser.get(url + f"s/{HOSTILE_ID}")
    wait_title(browser, f"Review: {HOSTILE_ID}")
    # No payload can ever run, so there is nothing to wait for: the page has no element with an inline handler,
    # its CSP forbids inline script (a handler would not run even if one were there), its only script is
    # review.js (which writes text, never markup), and the load event (after every image of the page has
    # loaded or failed) has fired.
    WebDriverWait(browser, 30).until(lambda driver: driver.execute_script("return document.readyState") == "complete")
    handlers = browser.execute_script("return Array.from(document.querySelectorAll('*')).flatMap(e => "
                                      "Array.from(e.attributes, a => a.name)).filter(n => /^on/i.test(n))")
    assert handlers == []
    with urllib.request.urlopen(browser.current_url, timeout=30) as page:
        policy = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'none'", policy
    assert browser.title == f"Review: {HOSTILE_ID}"  # no payload set document.title
    scripts = browser.execute_script("return Array.from(document.scripts, s => s.src)")
    assert len(scripts) == 1 and scripts[0].endswith("/static/review.js")
    text = browser.find_element(By.ID, "report-text")
    assert "<script>document.title='pwned-script'</script>" in text.text
    assert '<img src=x onerror="document.title=\'pwned-onerror\'">' in text.text
    assert text.find_elements(By.CSS_SELECTOR, "script, img, iframe, a, [onerror]") == []
    assert [h.tag_name for h in text.find_elements(By.CSS_SELECTOR, "h1, h2")] == ["h1", "h2"]  # Markdown rendered
    assert "<img src=x onerror=document.title='pwned-name'>" in browser.find_element(By.TAG_NAME, "main").text
    assert csp_problems(browser) == []


def test_review_two_tabs_keep_both_saves(served, browser):
    """Do saves from two tabs on different fields both survive, with the second tab told of the first?"""
    url, out = served
    page = url + "s/dave-no-plots"
    browser.get(page)
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(page)
    second = browser.current_window_handle
    browser.switch_to.window(first)
    keys(browser, "g", "4")
    save(browser)
    browser.switch_to.window(second)
    notice = WebDriverWait(browser, 30).until(EC.visibility_of_element_located((By.ID, "changed")))
    assert 'plots is now "4"' in notice.text
    keys(browser, "g", Keys.TAB, "2")
    save(browser)
    notices = [n.text for n in browser.find_elements(By.CLASS_NAME, "notice")]
    assert "plots: another tab saved '4' meanwhile; kept" in notices
    assert manual.read_manual(out / "manual.csv", {"dave-no-plots"}).of("dave-no-plots") == {"plots": 4.0, "report": 2.0}
    assert browser.find_element(By.ID, "points-plots").get_attribute("value") == "4"
    browser.close()
    browser.switch_to.window(first)


def test_review_refuses_requests_without_token(served, browser):
    """Is a request without the token, with a wrong one, or under another host name refused?"""
    url, _ = served
    base = url.rsplit("/", 2)[0]
    for address in (base + "/", base + "/s/ada-lovelace", base + "/wrong-token/", url[:-2] + "/"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(address, timeout=30)
        refused.value.close()
        assert refused.value.code == 403, address
    rebound = urllib.request.Request(url, headers={"Host": "attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(rebound, timeout=30)
    refused.value.close()
    assert refused.value.code == 403
    with urllib.request.urlopen(url, timeout=30) as page:
        assert page.status == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
    browser.get(base + "/")
    assert "403 Forbidden" in browser.find_element(By.TAG_NAME, "body").text


AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]  # WCAG 2.x, levels A and AA
PAGES = ["report.html", "feedback/bob-partly-wrong.html", "feedback/carol-crash.html", "similarity.html",
         "review: class list", "review: bob-partly-wrong"]  # fmt: skip


def serious_violations(driver) -> list[str]:
    """axe-core's violations of WCAG 2.x A/AA rules on the loaded page whose impact is serious or critical."""
    from selenium_axe_python import Axe

    axe = Axe(driver)
    axe.inject()
    found = axe.run(options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    assert found.get("testEngine", {}).get("name") == "axe-core", found  # axe ran (its result, not an error)
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in found["violations"] if v["impact"] in ("serious", "critical")]  # fmt: skip


@pytest.mark.parametrize("page", PAGES)
def test_pages_have_no_serious_accessibility_violation(page, graded_class, served, browser):
    """Does axe-core find no serious or critical WCAG 2.x violation on this page (static outputs and review app)?"""
    url, _ = served
    if page.startswith("review: "):
        sid = page.split(": ", 1)[1]
        browser.get(url if sid == "class list" else url + f"s/{sid}")
        wait_title(browser, "Review: exercise 02" if sid == "class list" else f"Review: {sid}")
    else:
        browser.get((graded_class / page).as_uri())
    assert serious_violations(browser) == [], f"{page}: fix the page's template (grader/outputs/*.j2, *.css)"


def test_accessibility_check_can_fail(browser, tmp_path):
    """Does the same check report a page with an unlabelled input and an image without alt text?"""
    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><html lang="en"><head><title>bad</title></head><body><main>'
                    '<input type="text"><img src="x.png"></main></body></html>')
    browser.get(page.as_uri())
    assert {v.split(" ")[0] for v in serious_violations(browser)} >= {"label", "image-alt"}
