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

`oneclick` (also `--rp2` and `--rp2-client-id`: a second relying party, on another origin,
both listed in eid's portal): a QR login at the first service; the second's "Log in" finds
the session but no consent, so its QR page shows and the phone approves; the portal in both
languages, searched in both; the second service's deep link in the portal lands on its page
with one click and no eid page between. Then passkeys, with DevTools' virtual authenticator
as the device's: one created from the account page after the phone approved adding it, by
name ("Approve on your phone to add a passkey": a QR page of its own); in a browser with no
session, holding a copy of it, the QR page's field asks with conditional mediation and the
passkey answers the login, no phone; in a third, the "Use a passkey" button does; the
passkey's session is offered no passkey; removing the passkey ends the session it opened.
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
# A passkey login: the virtual authenticator answers at once; the page then loads again.
PASSKEY_WITHIN_S = 20


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


class Authenticator:
    """A platform authenticator (CTAP2, internal transport, resident keys, user verification)
    in one page's browser tab, through the DevTools protocol: CDP virtual authenticators
    belong to a target, so each browser context's page gets its own. `presence` is
    `automaticPresenceSimulation`: when on, the authenticator answers a request at once, as if
    the person touched it (or chose the passkey from the field's suggestions)."""

    def __init__(self, context, page, presence):
        self.cdp = context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable")
        added = self.cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": presence,
                }
            },
        )
        self.id = added["authenticatorId"]

    def credentials(self):
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})[
            "credentials"
        ]

    def add(self, credential):
        """Adds a credential (as `credentials()` returns it, private key included): the same
        passkey in another tab's authenticator."""
        self.cdp.send(
            "WebAuthn.addCredential", {"authenticatorId": self.id, "credential": credential}
        )

    def presence(self, on):
        self.cdp.send(
            "WebAuthn.setAutomaticPresenceSimulation",
            {"authenticatorId": self.id, "enabled": on},
        )


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


def approve_on_phone(run, what):
    """On eid's QR page: the phone approves (through the test), the page shows whose account
    approved, and the person continues. The caller waits for where that leads."""
    page = run.page
    page.wait_for_selector("#qr svg")
    link = page.get_attribute("#approve-url", "href")
    number = page.inner_text("#number").strip()
    if not link or not number.isdigit():
        raise Failed(f"{what}: the QR page shows link {link!r} and number {number!r}")
    send("APPROVE", link, number)
    receive("APPROVED", APPROVED_WITHIN_S)
    page.wait_for_selector("#account", timeout=SHOWN_WITHIN_MS)
    page.get_by_role("button", name=re.compile("^Continue to")).click()


def rp_name(page):
    """The citizen's name on the relying party's logged-in home page."""
    row = page.locator("tr", has=page.locator("th", has_text=re.compile("^Name$")))
    return row.locator("td").inner_text().strip()


def qr_login(run, rp, shot, qr_shot=None):
    """A login at the relying party `rp` by QR code, without the checks of eid's pages that
    `login` makes: its log-in link, eid's QR page (screenshotted as `qr_shot` if given), the
    phone approves, Continue; back at the relying party, screenshotted as `shot`. Returns the
    name it shows."""
    page = run.page
    rp = rp.rstrip("/")
    issuer = run.args.issuer.rstrip("/")
    page.goto(rp + "/")
    page.get_by_role("link", name=re.compile("Log in with eid")).click()
    page.wait_for_url(re.compile("^" + re.escape(issuer) + "/login/"))
    page.wait_for_selector("#qr svg")
    if qr_shot:
        run.screenshot(qr_shot)
    approve_on_phone(run, f"the login at {rp}")
    page.wait_for_url(rp + "/")
    if page.inner_text("h1").strip() != "Welcome":
        raise Failed(f"not logged in at {rp} after the phone approved: {page.url}")
    run.screenshot(shot)
    return rp_name(page)


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


def open_account(run, lang, ceremony=None):
    """The account page in `lang`; with `ceremony`, the passkey registration the phone
    approved (the page then offers to create it)."""
    page = run.page
    extra = f"&add=passkey&ceremony={ceremony}" if ceremony else ""
    page.goto(run.args.issuer.rstrip("/") + "/account?lang=" + lang + extra, wait_until="load")
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


def one_click(run, page, go, target, what):
    """Runs `go`, which starts a navigation in `page`, and expects it to land on `target`
    having passed through eid's `/authorize`, answered by the session: no eid login page (no
    QR code, no phone) on the way, as the main frame's navigations and the navigation
    requests show. Returns the URLs requested."""
    issuer = run.args.issuer.rstrip("/")
    visited = []
    requested = []
    on_navigated = lambda frame: visited.append(frame.url) if frame == page.main_frame else None
    on_request = lambda r: requested.append(r.url) if r.is_navigation_request() else None
    page.on("framenavigated", on_navigated)
    page.on("request", on_request)
    try:
        go()
        page.wait_for_url(target, wait_until="load")
    except PlaywrightError as e:
        raise Failed(f"{what} did not land on {target} but at {page.url} (via {requested})") from e
    finally:
        page.remove_listener("framenavigated", on_navigated)
        page.remove_listener("request", on_request)
    through_eid = [u for u in requested if u.startswith(issuer + "/")]
    if not any(u.startswith(issuer + "/authorize") for u in through_eid):
        raise Failed(f"{what} did not go through eid's /authorize: {requested}")
    shown = [u for u in visited + requested if u.startswith(issuer + "/login/")]
    if shown:
        raise Failed(f"{what} showed eid's login page: {shown}")
    return requested


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
    target = rp + "/services/driving-licence/renew"
    initiate = rp + "/initiate-login?" + urlencode({"iss": issuer, "target_link_uri": target})
    one_click(run, page, lambda: page.goto(initiate, wait_until="commit"), target, "the deep link")
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
        qr_login(second, rp, "rp-logged-in-second-browser")
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


# The test's spy on WebAuthn requests, evaluated in every page before its own scripts (an init
# script goes through the DevTools protocol, outside the page's CSP): each
# `navigator.credentials.get` is logged to the console once made, with its mediation, and
# again when it ends; the document keeps the same list (`__eidTestGets`).
CREDENTIALS_SPY = """
(() => {
  const proto = window.CredentialsContainer && CredentialsContainer.prototype;
  if (!proto || !proto.get) { return; }
  const get = proto.get;
  const seen = (window.__eidTestGets = []);
  const note = (what) => { seen.push(what); console.info('eid-test get ' + what); };
  proto.get = function (options) {
    const how = (options && options.mediation) || 'optional';
    const asked = get.call(this, options);
    note(how);
    return asked.then(
      (c) => { note(how + ' resolved'); return c; },
      (e) => { note(how + ' rejected ' + e.name); throw e; });
  };
})();
"""
SPIED = "eid-test get "
PASSKEY_NAME = "Test laptop"
PASSKEY_KIND = {"en": "passkey in a browser", "zh-Hant-HK": "瀏覽器密碼匙"}
RENEW_PATH = "/services/driving-licence/renew"


def listed_services(page):
    """The portal's services, as their `data-client` ids, in order."""
    return page.eval_on_selector_all("li.service", "els => els.map(e => e.dataset.client)")


def open_portal(run, lang, query=None):
    """The portal in `lang`, searched for `query` with its search box (typed and submitted, as
    a person would) if given. Returns the services listed."""
    page = run.page
    page.goto(run.args.issuer.rstrip("/") + "/portal?lang=" + lang, wait_until="load")
    if not run.lang().lower().startswith(lang[:2].lower()):
        raise Failed(f"/portal?lang={lang} is in {run.lang()!r}")
    if query is not None:
        page.fill("#q", query)
        with page.expect_navigation(wait_until="load"):
            page.locator("form[role=search] button[type=submit]").click()
        if parse_qs(urlparse(page.url).query).get("q") != [query]:
            raise Failed(f"searching the portal for {query!r} went to {page.url}")
        if page.input_value("#q") != query:
            raise Failed(f"the portal's search box does not keep {query!r}")
    return listed_services(page)


def passkey_status(page):
    """What the page's passkey status says, if it has one (read at once: a locator's
    `inner_text` would wait for the element, which the next page may not have)."""
    return page.evaluate(
        "() => { const s = document.getElementById('passkey-status');"
        " return s ? s.textContent.trim() : ''; }"
    )


def wait_for(what, within_s, check):
    """Polls `check` (which may raise Playwright errors while a page navigates) until it
    returns something true, for at most `within_s` seconds."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            found = check()
        except PlaywrightError:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not within {within_s} s")
        time.sleep(0.2)


def offer_passkey(run):
    """The account page offers "Approve on your phone to add a passkey": the phone approves
    that action by name (its QR page; the test checks what the phone is told), and the browser
    comes back to `/account?add=passkey&ceremony=...#passkey`, where "Create a passkey" is
    offered. Returns the approved registration's ceremony id."""
    page = run.page
    issuer = run.args.issuer.rstrip("/")
    open_account(run, "en")
    if page.locator("#add-passkey").count():
        raise Failed("the account page offers a passkey the phone has not approved")
    approve = page.locator("#approve-for-passkey")
    if approve.count() != 1:
        raise Failed("the account page does not offer #approve-for-passkey")
    approve.click()
    page.wait_for_url(re.compile("^" + re.escape(issuer) + "/login/"))
    run.check_page("passkey-approval-qr")
    approve_on_phone(run, "approving to add a passkey")
    page.wait_for_url(re.compile("^" + re.escape(issuer) + r"/account\?add=passkey&ceremony="))
    if page.locator("#add-passkey").count() != 1:
        raise Failed("after the phone approved, the account page still offers no passkey")
    ceremony = parse_qs(urlparse(page.url).query).get("ceremony", [""])[0]
    if not ceremony:
        raise Failed(f"back at {page.url} without the approved registration")
    return ceremony


def passkey_row(page, lang):
    """The account page's device row of the test's passkey, checked: its kind and a Remove
    button."""
    rows = page.locator("tr.device", has_text=PASSKEY_NAME)
    if rows.count() != 1:
        devices = page.locator("tr.device").all_inner_texts()
        raise Failed(f"the account page ({lang}) lists {rows.count()} rows for the passkey: {devices}")
    row = rows.first
    if PASSKEY_KIND[lang] not in row.inner_text():
        raise Failed(f"the passkey's row ({lang}) does not say {PASSKEY_KIND[lang]!r}: {row.inner_text()!r}")
    if row.get_by_role("button").count() != 1:
        raise Failed(f"the passkey's row ({lang}) has no Remove button")
    return row


class Spied:
    """A page whose WebAuthn requests the test sees (`CREDENTIALS_SPY`), in a browser context
    of its own with its own virtual authenticator, holding a copy of the citizen's passkey."""

    def __init__(self, run, label, credential):
        self.context = new_context(run.page.context.browser)
        self.context.add_init_script(CREDENTIALS_SPY)
        page = new_page(self.context, label)
        # `conditional`, `conditional resolved`, `optional rejected NotAllowedError`...
        self.gets = []
        page.on(
            "console",
            lambda m: self.gets.append(m.text[len(SPIED):]) if m.text.startswith(SPIED) else None,
        )
        # Presence off: a request waits (as for a person who has not chosen the passkey yet).
        self.authenticator = Authenticator(self.context, page, presence=False)
        self.authenticator.add(credential)
        self.run = run.with_page(page)
        self.page = page

    def forget(self):
        """Forgets the requests seen so far."""
        self.gets.clear()

    def wait_for_request(self, mediation):
        """Waits until the page's current document has made a request with `mediation`."""
        wait_for(
            f"a {mediation} request on {self.page.url}",
            10,
            lambda: self.page.evaluate("m => (window.__eidTestGets || []).includes(m)", mediation),
        )


def passkey_qr_page(spied, shot=None):
    """Starts a login at the relying party in the spied page: eid's QR page with its passkey
    section shown and a conditional request waiting. Screenshots and axe in both languages
    when `shot` is given."""
    page = spied.page
    run = spied.run
    issuer = run.args.issuer.rstrip("/")
    page.goto(run.args.rp.rstrip("/") + "/")
    page.get_by_role("link", name=re.compile("Log in with eid")).click()
    page.wait_for_url(re.compile("^" + re.escape(issuer) + "/login/"))
    page.wait_for_selector("#qr svg")
    page.wait_for_selector("#passkey", state="visible")
    if shot:
        run.check_both_languages(shot)
    available = page.evaluate("PublicKeyCredential.isConditionalMediationAvailable()")
    if not available:
        raise Failed("PublicKeyCredential.isConditionalMediationAvailable() is false")
    spied.wait_for_request("conditional")
    return page.url


def passkey_answers(spied, login_url, go, what, shot=None):
    """Runs `go` (it leads to the QR page at `login_url`, or acts on it) and expects the
    passkey to answer the login: the assertion
    posted to `/login/{id}/passkey` and accepted, the page loaded again showing whose account
    answered (screenshotted as `shot` if given), Continue, back at the relying party logged
    in; no approval by the phone (the test plays it only on an APPROVE line, and none is sent
    here). Returns the account the page showed and the name the relying party shows."""
    page = spied.page
    rp = spied.run.args.rp.rstrip("/")
    seen = []
    on_response = lambda r: seen.append((r.request.method, r.url, r.status))
    page.on("response", on_response)

    def failed(where):
        try:
            said = passkey_status(page)
        except PlaywrightError:
            said = "?"
        return Failed(
            f"{what}: {where}; at {page.url} (passkey status {said!r}, WebAuthn requests "
            f"{spied.gets}, responses {seen})"
        )

    def answered():
        if page.locator("#account").count():
            return "approved"
        return passkey_status(page) and "refused"

    try:
        go()
        if wait_for(f"{what}: whose account answered", PASSKEY_WITHIN_S, answered) != "approved":
            raise failed("the page says the passkey was refused")
        account = page.inner_text("#account").strip()
        if page.url != login_url:
            raise failed(f"the approved page is not at {login_url}")
        if ("POST", login_url + "/passkey", 204) not in seen:
            raise failed("no assertion was accepted")
        if shot:
            spied.run.screenshot(shot)
        page.get_by_role("button", name=re.compile("^Continue to")).click()
        try:
            page.wait_for_url(rp + "/", wait_until="load")
        except PlaywrightError as e:
            raise failed("not back at the relying party") from e
    finally:
        page.remove_listener("response", on_response)
    if page.inner_text("h1").strip() != "Welcome":
        raise Failed(f"{what}: the relying party says {page.inner_text('h1')!r}")
    return account, rp_name(page)


def oneclick(run, context):
    """Two services and the portal, then passkeys: see the docstring's `oneclick`."""
    page = run.page
    args = run.args
    issuer = args.issuer.rstrip("/")
    rp = args.rp.rstrip("/")
    if not (args.client_id and args.redirect_uri and args.rp2 and args.rp2_client_id):
        raise Failed("the oneclick scenario needs --client-id, --redirect-uri, --rp2 and --rp2-client-id")
    rp2 = args.rp2.rstrip("/")
    first, second = args.client_id, args.rp2_client_id

    # 1. The QR login at the first service opens eid's session; the second service's "Log in"
    # finds it, but the citizen has not agreed to share with that service: its QR page, the
    # phone asks what to share.
    run.step("service1-login", qr_login(run, rp, "rp-logged-in"))
    page.goto(rp2 + "/")
    run.screenshot("rp2-home")
    page.get_by_role("link", name=re.compile("Log in with eid")).click()
    page.wait_for_url(re.compile("^" + re.escape(issuer) + "/login/"))
    run.step("service2-qr-page", page.url)
    run.screenshot("qr-service2")
    approve_on_phone(run, "the second service's login")
    page.wait_for_url(rp2 + "/")
    run.screenshot("rp2-logged-in")
    run.step("service2-login", rp_name(page))
    # The service forgets the login (its own sign-out; eid's session stays).
    page.goto(rp2 + "/logout", wait_until="load")
    if page.get_by_role("link", name=re.compile("Log in with eid")).count() != 1:
        raise Failed(f"after its own sign-out the second service shows {page.inner_text('h1')!r}")

    # 2. The portal, signed in, in both languages; its search box.
    for lang in ("en", "zh-Hant-HK"):
        listed = open_portal(run, lang)
        if sorted(listed) != sorted([first, second]):
            raise Failed(f"the portal ({lang}) lists {listed}, not the two services")
        if page.locator('a[href^="/account/login"]').count():
            raise Failed(f"the portal ({lang}) offers to sign in to a signed-in browser")
        run.check_page("portal")
    run.step("portal", str(len(listed)))
    for lang, words in (("zh-Hant-HK", "駕駛執照"), ("en", "licence")):
        listed = open_portal(run, lang, words)
        run.check_page("portal-search")
        run.step("portal-search-" + lang, ",".join(listed))

    # 3. The second service's deep link, from the portal's search results: one click, the
    # session answers, the browser lands on the page logged in.
    link = page.locator(f'li.service[data-client="{second}"] a.deep-link')
    if link.count() != 1:
        raise Failed(f"the second service has {link.count()} deep links in the portal")
    href = link.get_attribute("href")
    if not href.startswith(rp2 + "/initiate-login?"):
        raise Failed(f"the deep link is {href}, not the service's initiate_login_uri")
    one_click(run, page, link.click, rp2 + RENEW_PATH, "the portal's deep link")
    run.check_page("rp2-renew")
    run.step("portal-deep-link", page.input_value("#name"))

    # 4. A passkey from the account page: DevTools' virtual authenticator plays the device's.
    authenticator = Authenticator(context, page, presence=True)
    ceremony = offer_passkey(run)
    run.step("passkey-offered", "approved")
    for lang in ("en", "zh-Hant-HK"):
        open_account(run, lang, ceremony)
        if page.locator("#add-passkey").count() != 1:
            raise Failed(f"the account page ({lang}) no longer offers to create a passkey")
        run.check_page("account-passkey-offer")
    open_account(run, "en", ceremony)
    page.fill("#passkey-name", PASSKEY_NAME)
    page.click("#add-passkey")
    wait_for(
        "creating the passkey",
        STEP_MS / 1000,
        lambda: "added=passkey" in urlparse(page.url).query or passkey_status(page),
    )
    if "added=passkey" not in urlparse(page.url).query:
        raise Failed(f"the passkey was not added: {passkey_status(page)!r}")
    page.wait_for_load_state("load")
    passkey_row(page, "en")
    run.check_page("account-passkey-added")
    open_account(run, "zh-Hant-HK")
    passkey_row(page, "zh-Hant-HK")
    run.check_page("account-passkey-added")
    held = authenticator.credentials()
    if len(held) != 1 or not held[0]["isResidentCredential"] or held[0]["rpId"] != "localhost":
        raise Failed(f"the authenticator holds {[(c['rpId'], c['isResidentCredential']) for c in held]}")
    run.step("passkey-added", PASSKEY_NAME)

    # 5. Another browser, no eid session, the same passkey (copied into its authenticator):
    # the login page's field asks with conditional mediation; the passkey answers it.
    spied = Spied(run, "passkey", held[0])
    login_url = passkey_qr_page(spied, shot="qr-passkey")
    run.step("passkey-qr-page", "conditional mediation available")
    # The virtual authenticator answers a conditional request at once when presence is
    # simulated (a person choosing the passkey in the field's suggestions), focused or not; a
    # request made while presence was off stays pending. So: away from the page, presence on,
    # and the page again.
    spied.page.goto("about:blank")
    spied.authenticator.presence(True)
    spied.forget()
    account, name = passkey_answers(
        spied,
        login_url,
        lambda: spied.page.goto(login_url, wait_until="commit"),
        "the conditional request",
        shot="approved-passkey",
    )
    if [g for g in spied.gets if not g.startswith("conditional")]:
        raise Failed(f"the passkey login made other requests than conditional: {spied.gets}")
    if "conditional resolved" not in spied.gets:
        raise Failed(f"the conditional request did not resolve: {spied.gets}")
    spied.run.screenshot("rp-logged-in-passkey")
    run.step("passkey-approved-page", account)
    run.step("passkey-conditional", name)
    run.step("passkey-conditional-requests", ";".join(spied.gets))

    # 6. The button: a third browser, the passkey copied from the second (its signature
    # counter is the latest); the conditional request waits (it was made with presence off),
    # the button aborts it and asks at once.
    button = Spied(run, "passkey-button", spied.authenticator.credentials()[0])
    login_url = passkey_qr_page(button)
    button.authenticator.presence(True)
    button.forget()
    _, name = passkey_answers(
        button, login_url, lambda: button.page.click("#passkey-button"), "the passkey button"
    )
    if "optional resolved" not in button.gets or "conditional resolved" in button.gets:
        raise Failed(f"the button's request did not answer the login: {button.gets}")
    run.step("passkey-button", name)
    run.step("passkey-button-requests", ";".join(button.gets))

    # 7. The session the passkey opened cannot add a passkey: the account page says that
    # passkeys are added from a browser signed in with the phone, and offers nothing.
    spied.authenticator.presence(False)
    signed_in = spied.run
    open_account(signed_in, "en")
    if spied.page.locator("#add-passkey").count() or spied.page.locator("#approve-for-passkey").count():
        raise Failed("a session opened with a passkey is offered to add another")
    if spied.page.locator("#passkey-from-phone").count() != 1:
        raise Failed("the passkey's session is not told how passkeys are added")
    row = passkey_row(spied.page, "en")
    if "never" in row.inner_text():
        raise Failed(f"the passkey's row says it was never used: {row.inner_text()!r}")
    signed_in.check_page("account-passkey-session")
    run.step("passkey-session-account", "refused")

    # 8. Removing the passkey (its row's button) from the browser the phone signed in ends the
    # sessions the passkey opened, in the second and third browsers, and the service hears it
    # (back-channel logout); the first browser stays signed in.
    open_account(run, "en")
    with page.expect_navigation(wait_until="load"):
        passkey_row(page, "en").get_by_role("button").click()
    if page.locator("tr.device", has_text=PASSKEY_NAME).count():
        raise Failed("the passkey is still listed after Remove")
    if page.locator("li.session").count() == 0:
        raise Failed("removing the passkey signed out the browser the phone approved in")
    run.check_page("account-passkey-removed")
    run.step("passkey-removed")
    expect_login_required(run, spied.page, "the second session the removed passkey opened")
    expect_login_required(run, button.page, "the session the removed passkey opened")
    wait_logged_out_at_rp(run, button.page, "the login the removed passkey approved")
    button.run.screenshot("rp-logged-out-passkey-removed")
    run.step("passkey-session-ended")
    # On failure the contexts stay open for main's screenshots; on success they go.
    button.context.close()
    spied.context.close()


SCENARIOS = {"login": login, "sessions": sessions, "oneclick": oneclick}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rp", required=True, help="the relying party's URL")
    parser.add_argument("--issuer", required=True, help="eid's issuer")
    parser.add_argument("--shots", required=True, help="the folder for screenshots")
    parser.add_argument("--scenario", required=True, choices=sorted(SCENARIOS))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--client-id", help="the relying party's client_id (sessions)")
    parser.add_argument("--redirect-uri", help="the relying party's redirect URI (sessions)")
    parser.add_argument("--rp2", help="a second relying party's URL (oneclick)")
    parser.add_argument("--rp2-client-id", help="the second relying party's client_id (oneclick)")
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
                # Every open page as it was (a scenario may use several browsers).
                where = []
                for pg in [pg for c in browser.contexts for pg in c.pages]:
                    where.append(pg.url)
                    try:
                        run.with_page(pg).screenshot("failure")
                    except PlaywrightError:
                        pass
                raise Failed(f"{e} (at {', '.join(where)})") from e
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
