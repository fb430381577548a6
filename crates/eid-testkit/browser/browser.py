#!/usr/bin/env python3
"""A citizen's browser for eid's browser tests: real Chromium, driven with Playwright.

Run by `crates/eid-testkit/tests/it/browser.rs`, which starts eid and the example relying
party and plays the phone. The two speak a line protocol; this script's stdout carries only
protocol lines (diagnostics go to stderr):

    browser.py -> test    APPROVE <approval link> <number>   the QR page shows; answer it
    test -> browser.py    APPROVED                           the phone has approved
    browser.py -> test    OK <step> [detail]                 a step passed
    browser.py -> test    DONE                               the scenario passed
    browser.py -> test    FAIL <reason>                      it did not (then exits 1)

Every wait has a time limit. Pages are checked with axe-core (serious and critical violations
fail the run) and screenshotted as `NN-<page>-<lang>.png` in the folder given.
"""

import argparse
import re
import select
import sys
import time
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FAILING_IMPACTS = ("serious", "critical")
ENGLISH = "en-US,en;q=0.9"
CHINESE = "zh-HK,zh;q=0.9"

# Time limits, in milliseconds for Playwright and seconds for the test's answers.
STEP_MS = 30_000
APPROVED_WITHIN_S = 90
SHOWN_WITHIN_MS = 60_000


class Failed(Exception):
    """The scenario failed; the message is the reason."""


def send(*words):
    print(" ".join(str(w) for w in words), flush=True)


def log(message):
    print(message, file=sys.stderr, flush=True)


def receive(expected, within_s):
    """Waits for the test to write `expected` on stdin."""
    ready, _, _ = select.select([sys.stdin], [], [], within_s)
    if not ready:
        raise Failed(f"no {expected} from the test within {within_s} s")
    line = sys.stdin.readline()
    if not line:
        raise Failed(f"the test closed stdin before {expected}")
    if line.strip() != expected:
        raise Failed(f"expected {expected} from the test, got {line.strip()!r}")


def virtual_authenticator(context, page):
    """A platform authenticator (CTAP2, resident keys, user verification) in this page's
    browser, through the DevTools protocol, for passkey scenarios. Returns the CDP session and
    the authenticator's id."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


class Run:
    """One scenario's browser, screenshots and accessibility findings."""

    def __init__(self, args, page):
        self.args = args
        self.page = page
        self.shots = Path(args.shots)
        self.shot_number = 0
        self.violations = []
        self.axe_source = AXE.read_text(encoding="utf-8")

    def step(self, name, detail=""):
        send(f"OK {name} {detail}".rstrip())

    def lang(self):
        return self.page.evaluate("document.documentElement.lang")

    def screenshot(self, name):
        self.shot_number += 1
        lang = self.lang() or "none"
        path = self.shots / f"{self.shot_number:02d}-{name}-{lang}.png"
        self.page.screenshot(path=str(path), full_page=True)
        log(f"screenshot {path}")

    def axe(self, name):
        """Runs axe-core on the page, keeping its serious and critical violations. The source is
        evaluated through the DevTools protocol, which the page's CSP does not govern (a script
        tag would be refused, as it should be)."""
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(self.axe_source)
        result = self.page.evaluate(
            "rules => axe.run(document, {runOnly: rules})", AXE_RULES
        )
        where = f"{name}-{self.lang()}"
        found = [v for v in result["violations"] if v.get("impact") in FAILING_IMPACTS]
        for v in result["violations"]:
            log(
                f"axe {where}: {v['impact']} {v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
            )
            for node in v["nodes"]:
                log(f"    {node['target']}: {node.get('failureSummary', '').strip()}")
                log(f"    {node['html'][:300]}")
        for v in found:
            self.violations.append((where, v["id"], len(v["nodes"])))
        incomplete = ", ".join(v["id"] for v in result["incomplete"]) or "none"
        log(
            f"axe {where}: {len(result['passes'])} rules pass, "
            f"{len(result['violations'])} violations, for review: {incomplete}"
        )

    def check_page(self, name):
        """A screenshot and axe, in the page's current language."""
        self.screenshot(name)
        self.axe(name)

    def in_language(self, accept_language, expected_lang):
        """Reloads the page with an `Accept-Language` header and checks its language."""
        self.page.set_extra_http_headers({"Accept-Language": accept_language})
        self.page.reload(wait_until="load")
        lang = self.lang()
        if not lang.lower().startswith(expected_lang):
            raise Failed(f"with Accept-Language {accept_language} the page's lang is {lang!r}")

    def check_both_languages(self, name):
        """Checks the page in English, then in Traditional Chinese, and leaves it in English."""
        self.in_language(ENGLISH, "en")
        self.check_page(name)
        self.in_language(CHINESE, "zh")
        self.check_page(name)
        self.in_language(ENGLISH, "en")


def login(run, context):
    """The citizen logs in at the example relying party: its log-in link, eid's QR page (both
    languages, axe), the phone approves, the page shows whose account approved (both
    languages, axe), Continue, back at the relying party logged in."""
    page = run.page
    rp = run.args.rp.rstrip("/")
    issuer = run.args.issuer.rstrip("/")

    page.goto(rp + "/")
    run.screenshot("rp-home")
    page.get_by_role("link", name=re.compile("Log in with eid")).click()
    page.wait_for_url(re.compile("^" + re.escape(issuer) + "/login/"))
    page.wait_for_selector("#qr svg")
    run.step("qr-page", page.url)
    login_url = page.url

    run.check_both_languages("qr")
    run.step("qr-page-checked")

    # eid's cookie binds the login to this browser; its path is the login's own URL.
    cookies = [c for c in context.cookies(login_url) if c["name"] == "eid_login"]
    if not cookies:
        names = [(c["name"], c["path"]) for c in context.cookies()]
        raise Failed(f"no eid_login cookie for {login_url}, only {names}")
    for c in cookies:
        if not c["httpOnly"]:
            raise Failed(f"eid's cookie {c['name']} is not HttpOnly: {c}")
        if c["sameSite"] not in ("Lax", "Strict"):
            raise Failed(f"eid's cookie {c['name']} has SameSite={c['sameSite']}")
    run.step("cookie-httponly")

    link = page.get_attribute("#approve-url", "href")
    number = page.inner_text("#number").strip()
    if not link or not number.isdigit():
        raise Failed(f"the QR page shows link {link!r} and number {number!r}")
    send("APPROVE", link, number)
    receive("APPROVED", APPROVED_WITHIN_S)

    # The page polls and reloads itself once the phone has answered.
    page.wait_for_selector("#account", timeout=SHOWN_WITHIN_MS)
    account = page.inner_text("#account").strip()
    if page.url != login_url:
        raise Failed(f"the approved page is at {page.url}, not {login_url}")
    run.step("approved-page", account)
    run.check_both_languages("approved")
    run.step("approved-page-checked")

    page.get_by_role("button", name=re.compile("^Continue to")).click()
    page.wait_for_url(rp + "/")
    heading = page.inner_text("h1").strip()
    if heading != "Welcome":
        raise Failed(f"back at the relying party, the page says {heading!r}")
    name = page.locator("tr", has=page.locator("th", has_text=re.compile("^Name$"))).locator("td")
    run.screenshot("rp-logged-in")
    run.step("logged-in", name.inner_text().strip())


SCENARIOS = {"login": login}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rp", required=True, help="the relying party's URL")
    parser.add_argument("--issuer", required=True, help="eid's issuer")
    parser.add_argument("--shots", required=True, help="the folder for screenshots")
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    Path(args.shots).mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=args.chromium,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
            timeout=60_000,
        )
        try:
            # The language is chosen by header alone: a context's `locale` would override
            # the header (Chromium sends the locale as Accept-Language).
            context = browser.new_context(
                viewport={"width": 1024, "height": 800},
                extra_http_headers={"Accept-Language": ENGLISH},
            )
            context.set_default_timeout(STEP_MS)
            context.set_default_navigation_timeout(STEP_MS)
            page = context.new_page()
            page.on("console", lambda m: log(f"console {m.type}: {m.text}"))
            page.on("pageerror", lambda e: log(f"page error: {e}"))
            run = Run(args, page)
            try:
                SCENARIOS[args.scenario](run, context)
            except (Failed, PlaywrightError) as e:
                try:
                    run.screenshot("failure")
                except PlaywrightError:
                    pass
                raise Failed(f"{e} (at {page.url})") from e
            if run.violations:
                found = ", ".join(f"{rule} on {where} ({n} nodes)" for where, rule, n in run.violations)
                raise Failed(f"axe-core found serious or critical violations: {found}")
        finally:
            browser.close()
    log(f"{args.scenario}: {time.monotonic() - started:.1f} s")
    send("DONE")


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        send("FAIL", " ".join(str(e).split()))
        sys.exit(1)
    except Exception as e:  # anything else is a failure the test should read, too
        send("FAIL", f"{type(e).__name__}: {' '.join(str(e).split())}")
        raise
