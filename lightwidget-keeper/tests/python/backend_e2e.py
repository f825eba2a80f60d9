#!/usr/bin/env python3
"""An existing backend (as a PHP, Node or Python site would be) using the keeper daemon
over HTTP only, with Python's standard library: create an API key, connect an account,
read its status, page the feed through the proxy, receive and verify a Standard Webhooks
delivery when the account breaks, get the renewal URL, follow it, see ACTIVE again, and
log a visitor in with Instagram through the daemon (a one-time code redeemed once).

Run by `lightwidget-keeper/tests/api.rs`, which starts the daemon and the Graph sandbox
and passes their addresses in the environment (LW_*). Exits non-zero on any failure.
"""

import base64
import hashlib
import hmac
import http.cookiejar
import http.server
import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

API = os.environ["LW_API"].rstrip("/")
SANDBOX = os.environ["LW_SANDBOX"].rstrip("/")
WEBHOOK_SECRET = os.environ["LW_WEBHOOK_SECRET"]
events = queue.Queue()
returns = queue.Queue()


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


# --- the webhook receiver -------------------------------------------------------------

def verify_standard_webhook(headers, body):
    """Standard Webhooks: HMAC-SHA256 over "id.timestamp.body", base64, "v1," prefixed."""
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature", "")
    if not msg_id or not ts:
        return False
    if abs(time.time() - int(ts)) > 300:
        return False
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    signed = f"{msg_id}.{ts}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(s.split(",", 1)[1], expected)
        for s in sigs.split()
        if s.startswith("v1,")
    )


refused_once = []


class Hooks(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if not verify_standard_webhook(self.headers, body):
            events.put(("forged", None))
            self.send_response(400)
            self.end_headers()
            return
        if not refused_once:
            # The first delivery meets a backend that is restarting: it comes again,
            # with the same webhook-id.
            refused_once.append(self.headers["webhook-id"])
            self.send_response(503)
            self.end_headers()
            return
        events.put((self.headers["webhook-id"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def do_GET(self):
        # The host's own page the daemon sends the browser back to (`return_url`).
        returns.put(self.path)
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.end_headers()
        self.wfile.write(b"back on the host's site")

    def log_message(self, *args):
        pass


def wait_event(kind, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            msg_id, ev = events.get(timeout=max(0.1, deadline - time.time()))
        except queue.Empty:
            break
        check(msg_id != "forged", "a webhook failed its signature check")
        if ev["type"] == kind:
            ev["_id"] = msg_id
            return ev
    fail(f"no {kind} webhook within {timeout}s")


# --- the API ----------------------------------------------------------------------------

def call(method, path, key=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(API + path, data=data, method=method)
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, r.headers.get("content-type", ""), json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, e.headers.get("content-type", ""), json.loads(raw) if raw else None


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["LW_WEBHOOK_PORT"])), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    # 1. A key, from the CLI (shown once).
    out = subprocess.run(
        [os.environ["LW_KEEPER_BIN"], "keys", "create", "--name", "python-backend", "--scope", "write"],
        capture_output=True, text=True, check=True,
    )
    key = out.stdout.strip()
    check(key.startswith("lwk_"), f"a key: {out.stdout!r} {out.stderr!r}")

    status, ctype, problem = call("GET", "/v1/owners/shop-9/accounts")
    check(status == 401 and ctype == "application/problem+json", f"no key: {status} {ctype}")
    check(problem["code"] == "unauthorized", problem)

    # 2. Connect from a token the backend already has.
    status, _, body = call("POST", "/v1/accounts", key, {
        "owner": "shop-9",
        "kind": "consumer",
        "ig_user_id": os.environ["LW_IG_USER_ID"],
        "username": os.environ["LW_USERNAME"],
        "token": os.environ["LW_TOKEN"],
        "issued_at": os.environ["LW_ISSUED_AT"],
        "expires_at": os.environ["LW_EXPIRES_AT"],
    })
    check(status == 201, f"connect: {status} {body}")
    account = body["account"]["id"]
    check(os.environ["LW_TOKEN"] not in json.dumps(body), "the token was echoed")

    # 3. Status.
    status, _, body = call("GET", "/v1/owners/shop-9/accounts", key)
    check(status == 200 and body["accounts"][0]["status"] == "active", body)

    # 4. The feed through the proxy, every page.
    items, after = [], None
    for _ in range(20):
        q = f"?limit=4" + (f"&after={after}" if after else "")
        status, _, page = call("GET", f"/v1/accounts/{account}/media{q}", key)
        check(status == 200, f"media: {status} {page}")
        check(page["urls_expire_at"], "each page says when its URLs expire")
        items += page["data"]
        after = page["next"]
        if not after:
            break
    check(len(items) == int(os.environ["LW_MEDIA_COUNT"]), f"{len(items)} items")

    # 5. The account breaks (the owner changed their password); the next check finds it.
    req = urllib.request.Request(
        f"{SANDBOX}/_sandbox/accounts/{os.environ['LW_IG_USER_ID']}/break",
        data=b"reason=password_changed", method="POST",
    )
    urllib.request.urlopen(req, timeout=10).read()
    status, _, body = call("POST", f"/v1/accounts/{account}/refresh", key)
    check(status == 202, f"refresh: {status} {body}")
    ev = wait_event("account.expired")
    check(ev["data"]["account_id"] == account, ev)
    check(refused_once and refused_once[0] == ev["_id"], f"the retry carries the refused delivery's id: {refused_once} {ev['_id']}")
    check(ev["data"]["reason"]["code"] == "password_changed", ev)
    status, _, body = call("GET", f"/v1/accounts/{account}", key)
    check(body["label"] == "NOT ACTIVE" and body["reason"]["code"] == "password_changed", body)
    status, ctype, problem = call("POST", f"/v1/accounts/{account}/refresh", key)
    check(status == 409 and problem["code"] == "not-active", f"refreshing a dead token: {status} {problem}")
    check(problem["reason"] == "password_changed", problem)

    # 6. The owner logs in again at Meta (the sandbox heals), follows the renewal link.
    urllib.request.urlopen(urllib.request.Request(
        f"{SANDBOX}/_sandbox/accounts/{os.environ['LW_IG_USER_ID']}/heal", data=b"", method="POST"),
        timeout=10).read()
    status, _, link = call("POST", "/v1/owners/shop-9/links", key, {"purpose": "renew", "account_id": account})
    check(status == 201, f"link: {status} {link}")
    # Browsers treat loopback as a secure context, so the web layer's cookies are Secure
    # (`__Host-`) here; Python's jar sends Secure cookies over http only when told to.
    jar = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(secure_protocols=("https", "wss", "http")))
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    try:
        with browser.open(link["url"], timeout=30) as r:
            check(r.status == 200, f"the renewal ended on {r.status} {r.url}")
    except urllib.error.HTTPError as e:
        fail(f"the renewal ended on {e.code} at {e.url}: {e.read()[:2000]!r}")

    # 7. ACTIVE again, and the host is told.
    ev = wait_event("account.renewed")
    check(ev["data"]["account_id"] == account, ev)
    status, _, body = call("GET", f"/v1/owners/shop-9/accounts/{account}", key)
    check(status == 200 and body["label"] == "ACTIVE", body)

    # 8. "Log in with Instagram" through the daemon: the browser comes back to the host's
    #    return_url with a one-time code, which the backend redeems for who it is.
    status, _, link = call("POST", "/v1/owners/shop-9/links", key, {"purpose": "login", "kind": "consumer"})
    check(status == 201, f"login link: {status} {link}")
    while not returns.empty():
        returns.get()
    with browser.open(link["url"], timeout=30) as r:
        check(r.status == 200, f"the login ended on {r.status} {r.url}")
    path = returns.get(timeout=10)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    check("lw_login" in query, f"no code in {path}")
    code = query["lw_login"][0]
    status, _, who = call("POST", f"/v1/logins/{code}", key)
    check(status == 200 and who["username"] == os.environ["LW_USERNAME"], f"{status} {who}")
    check(who["owner"].startswith("instagram:"), who)
    status, _, _ = call("POST", f"/v1/logins/{code}", key)
    check(status == 404, "a login code is redeemed once")
    server.shutdown()
    print("python backend: ok")


if __name__ == "__main__":
    main()
