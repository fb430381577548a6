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

Scenarios: `login` (the QR login at the relying party) and `sessions` (that login, then eid's
single sign-on session: its cookie, `prompt=none` with and without it, a deep link through
the relying party's `initiate_login_uri` answered without the phone, the account page, a
second browser's session ended from the first, and signing out everywhere, which the relying
party hears through back-channel logout). `sessions` needs `--client-id` and
`--redirect-uri` (the relying party's, for the `prompt=none` requests it builds).
"""

import argparse
import base64
import hashlib
import itertools
import re
import secrets
import select
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

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
# eid's courier posts back-channel logouts every 2 s; the relying party is polled this long.
BACKCHANNEL_WITHIN_S = 15


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
        # Shared with the runs of other pages (`with_page`): one numbering, one list.
        self.shot_numbers = itertools.count(1)
        self.violations = []
        self.axe_source = AXE.read_text(encoding="utf-8")

    def with_page(self, page):
        """The same run in another page (another browser context): screenshots numbered on,
        violations collected together."""
        other = Run.__new__(Run)
        other.__dict__.update(self.__dict__)
        other.page = page
        return other

    def step(self, name, detail=""):
        send(f"OK {name} {detail}".rstrip())

    def lang(self):
        return self.page.evaluate("document.documentElement.lang")

    def screenshot(self, name):
        number = next(self.shot_numbers)
        lang = self.lang() or "none"
        path = self.shots / f"{number:02d}-{name}-{lang}.png"
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


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def authorization_url(args, prompt=None):
    """An authorization request for the relying party's client as its library would make it:
    `scope=openid`, the code flow, PKCE S256, a state (the verifier is never used: the code is
    not redeemed)."""
    verifier = b64url(secrets.token_bytes(32))
    params = {
        "client_id": args.client_id,
        "redirect_uri": args.redirect_uri,
        "scope": "openid",
        "response_type": "code",
        "code_challenge": b64url(hashlib.sha256(verifier.encode("ascii")).digest()),
        "code_challenge_method": "S256",
        "state": b64url(secrets.token_bytes(16)),
    }
    if prompt:
        params["prompt"] = prompt
    return args.issuer.rstrip("/") + "/authorize?" + urlencode(params), params["state"]


def prompt_none(run, page):
    """`prompt=none` in `page`'s browser: where eid sends it back to (the relying party's
    redirect URI, whatever that page then shows), as the response's parameters."""
    url, state = authorization_url(run.args, prompt="none")
    page.goto(url, wait_until="load")
    landed = urlparse(page.url)
    expected = urlparse(run.args.redirect_uri)
    if (landed.scheme, landed.netloc, landed.path) != (expected.scheme, expected.netloc, expected.path):
        raise Failed(f"prompt=none ended at {page.url}, not at the redirect URI")
    params = {k: v[0] for k, v in parse_qs(landed.query).items()}
    if params.get("state") != state:
        raise Failed(f"prompt=none came back without its state: {page.url}")
    if params.get("iss") != run.args.issuer.rstrip("/"):
        raise Failed(f"prompt=none came back without eid's iss (RFC 9207): {page.url}")
    return params


def expect_login_required(run, page, what):
    params = prompt_none(run, page)
    if params.get("error") != "login_required" or "code" in params:
        raise Failed(f"{what}: prompt=none answered {params}, not error=login_required")


def new_context(browser):
    # The language is chosen by header alone: a context's `locale` would override the header
    # (Chromium sends the locale as Accept-Language).
    context = browser.new_context(
        viewport={"width": 1024, "height": 800},
        extra_http_headers={"Accept-Language": ENGLISH},
    )
    context.set_default_timeout(STEP_MS)
    context.set_default_navigation_timeout(STEP_MS)
    return context


def new_page(context, label):
    page = context.new_page()
    page.on("console", lambda m: log(f"console ({label}) {m.type}: {m.text}"))
    page.on("pageerror", lambda e: log(f"page error ({label}): {e}"))
    return page


def qr_login_again(run):
    """Another browser logs in at the relying party by QR code: no checks of eid's pages
    (the first login made them), the phone approves through the test again."""
    page = run.page
    rp = run.args.rp.rstrip("/")
    issuer = run.args.issuer.rstrip("/")
    page.goto(rp + "/")
    page.get_by_role("link", name=re.compile("Log in with eid")).click()
    page.wait_for_url(re.compile("^" + re.escape(issuer) + "/login/"))
    page.wait_for_selector("#qr svg")
    link = page.get_attribute("#approve-url", "href")
    number = page.inner_text("#number").strip()
    if not link or not number.isdigit():
        raise Failed(f"the second QR page shows link {link!r} and number {number!r}")
    send("APPROVE", link, number)
    receive("APPROVED", APPROVED_WITHIN_S)
    page.wait_for_selector("#account", timeout=SHOWN_WITHIN_MS)
    page.get_by_role("button", name=re.compile("^Continue to")).click()
    page.wait_for_url(rp + "/")
    if page.inner_text("h1").strip() != "Welcome":
        raise Failed(f"the second browser is not logged in at the relying party: {page.url}")
    run.screenshot("rp-logged-in-second-browser")


def session_items(page):
    """The account page's sessions: (id, whether it is this browser)."""
    items = page.locator("li.session")
    found = []
    for i in range(items.count()):
        item = items.nth(i)
        found.append(
            (item.get_attribute("data-session"), "this browser" in item.inner_text())
        )
    return found


def open_account(run, lang):
    page = run.page
    page.goto(run.args.issuer.rstrip("/") + "/account?lang=" + lang, wait_until="load")
    if page.locator("li.session").count() == 0:
        raise Failed("the account page lists no session (is this browser signed in?)")


def wait_logged_out_at_rp(run, page, what):
    """Reloads the relying party's home until it offers to log in (the back-channel logout
    arrived), for at most BACKCHANNEL_WITHIN_S."""
    rp = run.args.rp.rstrip("/")
    deadline = time.monotonic() + BACKCHANNEL_WITHIN_S
    while True:
        page.goto(rp + "/", wait_until="load")
        if page.get_by_role("link", name=re.compile("Log in with eid")).count() > 0:
            return
        if time.monotonic() > deadline:
            raise Failed(
                f"{what}: the relying party still shows {page.inner_text('h1')!r} "
                f"{BACKCHANNEL_WITHIN_S} s after eid's sign-out"
            )
        time.sleep(0.5)


def sessions(run, context):
    """The QR login, then eid's single sign-on session in the browser: see the docstring."""
    login(run, context)
    page = run.page
    args = run.args
    rp = args.rp.rstrip("/")
    issuer = args.issuer.rstrip("/")
    if not (args.client_id and args.redirect_uri):
        raise Failed("the sessions scenario needs --client-id and --redirect-uri")

    # 1. The session cookie: HttpOnly, SameSite=Lax, never visible to the page's scripts.
    cookies = [c for c in context.cookies(issuer + "/") if c["name"] == "eid_session"]
    if len(cookies) != 1:
        names = [c["name"] for c in context.cookies()]
        raise Failed(f"after the login there is no eid_session cookie for {issuer}, only {names}")
    cookie = cookies[0]
    if not cookie["httpOnly"] or cookie["sameSite"] != "Lax" or cookie["path"] != "/":
        raise Failed(f"eid_session is not HttpOnly, SameSite=Lax, Path=/: {cookie}")
    page.goto(issuer + "/account?lang=en", wait_until="load")
    seen_by_script = page.evaluate("document.cookie")
    if "eid_session" in seen_by_script:
        raise Failed(f"a script on eid's page reads the session cookie: {seen_by_script!r}")
    run.step("session-cookie", f"HttpOnly SameSite={cookie['sameSite']}")

    # 2. prompt=none: with the session a code comes back at once; without it, login_required.
    answered = prompt_none(run, page)
    if not answered.get("code") or "error" in answered:
        raise Failed(f"with a session, prompt=none answered {answered}")
    run.step("prompt-none-answered")
    fresh = new_context(page.context.browser)
    try:
        expect_login_required(run, new_page(fresh, "fresh"), "a browser without a session")
    finally:
        fresh.close()
    run.step("prompt-none-login-required")

    # 3. A deep link through the relying party's initiate_login_uri: eid's session answers,
    # the browser lands on the page, and no eid page (nor the phone) comes in between.
    visited = []
    requested = []
    on_navigated = lambda frame: visited.append(frame.url) if frame == page.main_frame else None
    on_request = lambda r: requested.append(r.url) if r.is_navigation_request() else None
    page.on("framenavigated", on_navigated)
    page.on("request", on_request)
    target = rp + "/services/driving-licence/renew"
    page.goto(
        rp + "/initiate-login?" + urlencode({"iss": issuer, "target_link_uri": target}),
        wait_until="load",
    )
    page.remove_listener("framenavigated", on_navigated)
    page.remove_listener("request", on_request)
    if page.url != target:
        raise Failed(f"the deep link ended at {page.url}, not {target} (via {requested})")
    through_eid = [u for u in requested if u.startswith(issuer + "/")]
    if not any(u.startswith(issuer + "/authorize") for u in through_eid):
        raise Failed(f"the deep link did not go through eid's /authorize: {requested}")
    shown = [u for u in visited + requested if u.startswith(issuer + "/login/")]
    if shown:
        raise Failed(f"the deep link showed eid's login page: {shown}")
    name = page.input_value("#name")
    run.check_page("rp-renew")
    run.step("deep-link", name)

    # 4. The account page, in both languages: this browser's session, marked.
    for lang, marker in (("en", "this browser"), ("zh-Hant-HK", "此瀏覽器")):
        open_account(run, lang)
        if not run.lang().lower().startswith(lang[:2].lower()):
            raise Failed(f"/account?lang={lang} is in {run.lang()!r}")
        items = page.locator("li.session")
        if items.count() != 1 or marker not in items.first.inner_text():
            raise Failed(f"the account page ({lang}) does not list this browser's session alone")
        run.check_page("account")
    run.step("account-page", str(len(session_items(page))))

    # 5. A second browser logs in by QR code; the first ends its session from the account page.
    second_context = new_context(page.context.browser)
    try:
        second = run.with_page(new_page(second_context, "second"))
        qr_login_again(second)
        run.step("second-login")
        open_account(run, "en")
        listed = session_items(page)
        others = [sid for sid, here in listed if not here]
        if len(listed) != 2 or len(others) != 1:
            raise Failed(f"with two browsers signed in, the account page lists {listed}")
        run.check_page("account-two-sessions")
        other = page.locator(f'li.session[data-session="{others[0]}"]')
        with page.expect_navigation(wait_until="load"):
            other.get_by_role("button").filter(has_text="End this session").click()
        left = session_items(page)
        if [here for _, here in left] != [True]:
            raise Failed(f"after ending the other session the account page lists {left}")
        run.screenshot("account-other-ended")
        expect_login_required(run, second.page, "the ended session's browser")
        wait_logged_out_at_rp(run, second.page, "the ended session's browser")
        run.step("second-session-ended")
    finally:
        second_context.close()

    # 6. Sign out everywhere: eid's signed-out page, the relying party hears it through the
    # back channel, and prompt=none needs a login again.
    open_account(run, "en")
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name=re.compile("^Sign out everywhere")).click()
    heading = page.inner_text("h1")
    if "signed out" not in heading.lower():
        raise Failed(f"after signing out everywhere the page says {heading!r}")
    if [c for c in context.cookies(issuer + "/") if c["name"] == "eid_session"]:
        raise Failed("signing out left the eid_session cookie")
    run.check_page("signed-out")
    run.step("signed-out-page", heading.splitlines()[0] if heading else "")
    wait_logged_out_at_rp(run, page, "after signing out everywhere")
    run.screenshot("rp-signed-out")
    run.step("rp-logged-out")
    expect_login_required(run, page, "after signing out everywhere")
    run.step("prompt-none-after-sign-out")


SCENARIOS = {"login": login, "sessions": sessions}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rp", required=True, help="the relying party's URL")
    parser.add_argument("--issuer", required=True, help="eid's issuer")
    parser.add_argument("--shots", required=True, help="the folder for screenshots")
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--client-id", help="the relying party's client_id (sessions)")
    parser.add_argument("--redirect-uri", help="the relying party's redirect URI (sessions)")
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
            context = new_context(browser)
            page = new_page(context, "first")
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
