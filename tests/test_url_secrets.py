"""Credentials in an outlet's URLs are used to fetch and shown nowhere.

A feed that needs `user:password@` and `?api_key=` in its configured URL is read with them;
what the run prints, logs, stores (every column of every table and view of the warehouse)
and sends the operator carries the URL masked (flows/stages/redact.py). One outlet's feed
answers 404 and another's port refuses, so the error paths run; the good feed's validators
still come back to its configured URL (a 304 on the second run).

Real Prefect flow, real DuckDB file, real HTTP servers on 127.0.0.1; and the masking function
itself on its edge cases.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import pytest

from flows.cli import _print_ingest
from flows.ingest import ingest_flow
from flows.report import ingest_markdown
from flows.stages.redact import mask_text, mask_url, secret_name, without_userinfo
from flows.status import render_status
from tests import faults as f
from tests.conftest import dead_port
from tests.faultserver import FaultServer, send
from warehouse.feed_state import state_key

USER, PASSWORD, KEY = "feeduser", "hunter2pw", "SEKRETQUERY"
SECRETS = (USER, PASSWORD, KEY)
ETAG = '"authed-v1"'


def _leaks(text: str) -> set[str]:
    return {s for s in SECRETS if s.lower() in text.lower()}


def _authorised(h: BaseHTTPRequestHandler) -> bool:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return h.headers.get("Authorization") == f"Basic {token}"


@contextmanager
def _webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A JSON webhook receiver on loopback: its URL, and the bodies it was sent."""
    posts: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            send(self, 200, b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ops", posts
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server() -> Iterator[FaultServer]:
    not_modified: list[str] = []

    def feed(h: BaseHTTPRequestHandler) -> None:
        if not _authorised(h) or f"api_key={KEY}" not in h.path:
            send(h, 401, b"who are you?")
        elif h.headers.get("If-None-Match") == ETAG:
            not_modified.append(h.path)
            send(h, 304, headers={"ETag": ETAG})
        else:   # a link relative to the feed: it inherits user:password@ (urljoin)
            send(h, 200, (
                b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
                b"<item><title>story</title><link>/good/story</link></item>"
                b"</channel></rss>"), "application/rss+xml", headers={"ETag": ETAG})

    def story(h: BaseHTTPRequestHandler) -> None:
        if _authorised(h):
            send(h, 200, f.article_html(f.RU_PAGE).encode())
        else:
            send(h, 401, b"who are you?")

    with FaultServer({"/good/feed.xml": feed, "/good/story": story,
                      "/bad/feed.xml": lambda h: send(h, 404, b"not found")}) as srv:
        srv.not_modified = not_modified   # type: ignore[attr-defined]
        yield srv


def _config(tmp_path: Path, srv: FaultServer, hook: str, refused: int) -> Path:
    host = srv.base.removeprefix("http://")
    authed = f"http://{USER}:{PASSWORD}@{host}"
    cfg = tmp_path / "sources.toml"
    cfg.write_text(
        f'[fetch]\nallowed_private_hosts = ["{host}", "127.0.0.1:{refused}"]\n'
        "retries = 0\nhost_delay = 0\ntimeout = 2\nfailing_after = 1\n\n"
        f'[digest]\noutbox = "{tmp_path / "outbox"}"\n\n'
        f'[operator]\nemail = "ops@example.org"\nchat = "webhook+{hook}"\n\n'
        f'[[sources]]\nkey = "good"\nname = "Good"\n'
        f'feeds = ["{authed}/good/feed.xml?api_key={KEY}&lang=en"]\n\n'
        f'[[sources]]\nkey = "bad"\nname = "Bad"\n'
        f'feeds = ["{authed}/bad/feed.xml?api_key={KEY}"]\n\n'
        f'[[sources]]\nkey = "down"\nname = "Down"\n'
        f'feeds = ["http://{USER}:{PASSWORD}@127.0.0.1:{refused}/rss?token={KEY}"]\n',
        "utf-8")
    return cfg


def _warehouse_text(db: Path) -> dict[str, str]:
    """Every table and view of the warehouse, all its rows and columns as text."""
    out: dict[str, str] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        names = [n for (n,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()]
        for name in names:
            out[name] = repr(con.execute(f'SELECT * FROM "{name}"').fetchall())
    return out


@pytest.mark.usefixtures("prefect_harness")
def test_credentials_in_feed_urls_are_used_and_shown_nowhere(
        server: FaultServer, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO)
    db = tmp_path / "w.duckdb"
    with _webhook() as (hook, posts):
        cfg = _config(tmp_path, server, hook, dead_port())
        reports = [ingest_flow(str(cfg), str(db)) for _ in range(2)]

    # The credentials were used: the good outlet's feed and its page (behind basic auth,
    # linked relative to the feed) were read, and the second run's feed answered 304.
    first = {s.source: s for s in reports[0].sources}
    assert first["good"].ok and first["good"].new_articles == 1
    assert not first["bad"].ok and not first["down"].ok
    assert server.not_modified == [f"/good/feed.xml?api_key={KEY}&lang=en"]  # type: ignore[attr-defined]

    # ...and shown nowhere: what `migwatch run` prints, the Prefect artifact, `status`.
    for report in reports:
        _print_ingest(report)
        print(ingest_markdown(report.run_id, report.status, list(report.sources)))
    print(render_status(db)[0])
    printed = capsys.readouterr().out
    assert "bad/feed.xml?api_key=***: HTTP 404" in printed
    assert _leaks(printed) == set()

    # The log (the flow's WARNING for a failed outlet, httpx's requests, everything).
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "bad: FAILED: http://***@127.0.0.1:" in logged
    assert _leaks(logged) == set()

    # Every table and view of the warehouse.
    tables = _warehouse_text(db)
    assert {"feed_state", "fetch_event", "robots_txt", "doc", "runs", "outlet_health",
            "fetches"} <= tables.keys()
    assert {name: _leaks(text) for name, text in tables.items() if _leaks(text)} == {}
    with duckdb.connect(str(db), read_only=True) as con:
        urls = {u for (u,) in con.execute("SELECT url FROM fetches").fetchall()}
        stored = con.execute("SELECT url FROM articles WHERE NOT is_seed").fetchall()
    assert f"{server.base.replace('//', '//***@')}/bad/feed.xml?api_key=***" in urls
    assert f"{server.base.replace('//', '//***@')}/good/story" in urls
    assert stored == [(f"{server.base}/good/story",)]   # the link, without user:password@

    # The operator's alerts: webhook JSON (last_error) and the email in the outbox.
    assert posts and "bad" in json.dumps(posts)
    assert _leaks(json.dumps(posts)) == set()
    mails = [p.read_text("utf-8") for p in (tmp_path / "outbox").glob("operator-*.eml")]
    assert mails and _leaks("\n".join(mails)) == set()


@pytest.mark.parametrize(("url", "masked"), [
    # nothing secret: unchanged, byte for byte
    ("https://example.org/feed.xml", "https://example.org/feed.xml"),
    ("https://example.org/feed.xml?", "https://example.org/feed.xml?"),
    ("https://medium.com/@someone/feed", "https://medium.com/@someone/feed"),
    ("https://h/p?keyword=migrants&author=x&id=7&key=&flag",
     "https://h/p?keyword=migrants&author=x&id=7&key=&flag"),
    ("not a url", "not a url"),
    ("mailto:ops@example.org", "mailto:ops@example.org"),
    # userinfo: the user goes too (tokens are passed as the user name)
    ("http://u:p@h/x", "http://***@h/x"),
    ("https://ghp_TOKEN@h/x", "https://***@h/x"),
    ("HTTP://U:P@H:8080/X?Token=1", "HTTP://***@H:8080/X?Token=***"),
    ("http://user:p@ss@h/x", "http://***@h/x"),
    # repeated parameters, case, order and encoding kept
    ("https://h/rss?token=a&page=2&token=b", "https://h/rss?token=***&page=2&token=***"),
    ("https://h/rss?API_KEY=a%2Fb%3D&q=caf%C3%A9+x", "https://h/rss?API_KEY=***&q=caf%C3%A9+x"),
    ("https://h/rss?api%5Fkey=abc&apiKey=d&ApiKey=e",
     "https://h/rss?api%5Fkey=***&apiKey=***&ApiKey=***"),
    ("https://s3/b/o?X-Amz-Credential=AK&X-Amz-Signature=ff&X-Amz-Date=1",
     "https://s3/b/o?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Date=1"),
    ("https://h/p?sessionId=1&PHPSESSID=2&client_secret=s&passwd=p&sid=9&auth=a&sig=z",
     "https://h/p?sessionId=***&PHPSESSID=***&client_secret=***&passwd=***&sid=***&auth=***"
     "&sig=***"),
    # IPv6 host and port kept; fragment kept, or masked when it carries a secret
    ("http://user:p%40ss@[2001:db8::1]:8443/feed?sig=x#top",
     "http://***@[2001:db8::1]:8443/feed?sig=***#top"),
    ("https://h:8080/cb#access_token=abc&state=1", "https://h:8080/cb#access_token=***&state=1"),
    ("https://h/p?q=1#key=v?x", "https://h/p?q=1#key=***"),
])
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
    assert mask_url(masked) == masked          # idempotent


def test_secret_names_and_others() -> None:
    secret = ["key", "KEY", "api_key", "apikey", "api-key", "x-api-key", "token", "access_token",
              "accessToken", "auth", "auth_token", "password", "passwd", "secret",
              "client_secret", "sig", "signature", "session", "sessionid", "jsessionid", "sid",
              "subscription-key", "X-Amz-Security-Token", "oauth_token"]
    plain = ["id", "page", "q", "s", "lang", "utm_source", "keyword", "keywords", "author",
             "design", "inside", "monkeys", "category", "format", "passage", "tokenizer_name"]
    assert [n for n in secret if not secret_name(n)] == []
    assert [n for n in plain if secret_name(n)] == []


def test_mask_text_masks_urls_in_sentences_and_known_secrets() -> None:
    url = f"http://{USER}:{PASSWORD}@h:81/feed?api_key={KEY}"
    text = f"connection failed: {url}: refused (see {url}), and {PASSWORD!r} in a library's words."
    masked = mask_text(text, [url])
    assert masked == ("connection failed: http://***@h:81/feed?api_key=***: refused "
                      "(see http://***@h:81/feed?api_key=***), and '***' in a library's words.")
    assert mask_text(None) is None and mask_text("") == ""
    assert mask_text("HTTP 404 Not Found", [url]) == "HTTP 404 Not Found"
    assert without_userinfo(url) == f"http://h:81/feed?api_key={KEY}"
    assert without_userinfo("https://h/@x") == "https://h/@x"


def test_feed_state_keys_hide_secrets_and_keep_urls_apart() -> None:
    clean = "https://example.org/feed.xml?page=2"
    assert state_key(clean) == clean                       # as before: no migration
    one, two = (f"https://u:{p}@h/feed?api_key={k}" for p, k in (("pw1", "K1"), ("pw2", "K2")))
    assert state_key(one) != state_key(two)                # differ only in secrets: apart
    assert state_key(one) == state_key(one)                # the same on every run
    assert state_key(one).startswith("https://***@h/feed?api_key=*** sha256:")
    assert "pw1" not in state_key(one) and "K1" not in state_key(one)
