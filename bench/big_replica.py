"""A local replica of many outlets for the ingest benchmarks: N distinct article pages with
the furniture of real news pages, one RSS feed per outlet, each outlet its own host:port.

Pages: the real news pages of the shared extraction benchmark (`../shared/data/extraction-
benchmark`, 181 pages, median 115 KB: menus, scripts, related links, comments, footers) or,
when that folder is absent, the bundled replica's pages (about 11 KB: far lighter than real
pages, so per-page costs outside extraction weigh more). In each template the paragraphs of
the article (those trafilatura extracts) and the headline become placeholders; every page
fills them with its own text in its outlet's language (en, ru or tg), generated from the
replica's articles and the shared language samples by a seeded word chain, so no two pages
are copies, except that every 25th page republishes an earlier article of its outlet with
its last paragraph cut (a near-duplicate for dedup to find).

The servers run in a separate process (they play the outlets, not part of the ingest):

    with BigReplica(tmp_dir, pages=2000) as rep:
        rep.config_text(runner='kind = "processes"')   # a sources.toml for it
        rep.bodies()                                   # [(url, html bytes)] for the floor
"""

from __future__ import annotations

import gzip
import html
import itertools
import multiprocessing
import os
import random
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType

import lxml.html

from flows.replica.server import SITE
from flows.settings import PROJECT_ROOT
from flows.stages.extract import extract

SHARED = PROJECT_ROOT.parent / "shared" / "data"
REAL_PAGES = SHARED / "extraction-benchmark" / "html"
LANGID = SHARED / "langid" / "langid_paragraphs.tsv"
OUTLET_LANGS = ("ru", "en", "tg", "ru", "en", "ru", "tg", "en")
REPLICA_LANG = {"asiaplus-en": "en", "asiaplus-ru": "ru", "ozodi": "tg", "cabar": "en",
                "eurasianet": "en", "fergana": "ru"}
_BLOCKS = ("p", "li", "blockquote", "h2", "h3", "h4", "div", "span", "td", "pre")


def _skeleton(page: str) -> tuple[str, list[int]] | None:
    """The page with its article paragraphs as placeholders MWP0MW.. and its headline as
    MWTITLEMW; None when too little of the article could be located."""
    found = extract("https://example.org/a", page)
    if found is None:
        return None
    wanted = {" ".join(p.split()) for p in found.text.splitlines() if len(p.split()) >= 5}
    tree = lxml.html.fromstring(page)
    sizes: list[int] = []
    for el in tree.iter(*_BLOCKS):
        text = " ".join(el.text_content().split())
        if text in wanted:
            wanted.discard(text)
            for child in list(el):
                el.remove(child)
            el.text = f"MWP{len(sizes)}MW"
            sizes.append(len(text.split()))
    if sum(sizes) < 0.6 * len(found.text.split()) or len(sizes) < 3:
        return None
    for el in tree.iter("title", "h1"):
        for child in list(el):
            el.remove(child)
        el.text = "MWTITLEMW"
    for el in tree.xpath("//meta[@property='og:title' or @name='twitter:title']"):
        el.set("content", "MWTITLEMW")
    for el in tree.xpath("//link[@rel='canonical'] | //meta[@property='og:url']"):
        el.set("href" if el.tag == "link" else "content", "MWURLMW")
    return lxml.html.tostring(tree, encoding="unicode", doctype="<!DOCTYPE html>"), sizes


def templates() -> tuple[str, list[tuple[str, list[int]]]]:
    """(which pages, [(skeleton, paragraph sizes)])."""
    if REAL_PAGES.is_dir():
        raw = [gzip.decompress(p.read_bytes()).decode("utf-8", "replace")
               for p in sorted(REAL_PAGES.glob("*.html.gz"))]
        kind = "real news pages (shared extraction benchmark)"
    else:
        raw = [p.read_text("utf-8").replace("{{BASE}}", "https://example.org")
               for p in sorted(SITE.glob("*/**/*.html"))]
        kind = "the bundled replica's pages (shared data absent)"
    found = [s for s in map(_skeleton, raw) if s is not None]
    return f"{len(found)} templates from {kind}", found


def _corpus() -> dict[str, list[str]]:
    words: dict[str, list[str]] = {lang: [] for lang in set(OUTLET_LANGS)}
    for page in sorted(SITE.glob("*/**/*.html")):
        ex = extract("https://example.org/a", page.read_text("utf-8").replace("{{BASE}}", ""))
        if ex:
            words[REPLICA_LANG[page.relative_to(SITE).parts[0]]] += ex.text.split()
    if LANGID.exists():
        for line in LANGID.read_text("utf-8").splitlines()[1:]:
            lang, _, text = line.partition("\t")
            if lang in words:
                words[lang] += text.split()
    return words


class Writer:
    """Seeded order-1 word chain: fluent enough for language detection, never a copy."""

    def __init__(self, words: list[str]) -> None:
        self.next: dict[str, list[str]] = {}
        for a, b in itertools.pairwise(words):
            self.next.setdefault(a, []).append(b)
        self.starts = [w for w in self.next if w[:1].isupper()] or list(self.next)

    def paragraph(self, rng: random.Random, n_words: int) -> str:
        out = [rng.choice(self.starts)]
        while len(out) < n_words or not out[-1].endswith("."):
            follow = self.next.get(out[-1])
            out.append(rng.choice(follow) if follow else rng.choice(self.starts))
            if len(out) > n_words + 40:
                out[-1] += "."
        return " ".join(out)


def _fill(skeleton: str, paras: list[str]) -> str:
    return re.sub(r"MWP(\d+)MW", lambda m: html.escape(paras[int(m.group(1))]), skeleton)


def build_site(root: Path, pages: int, outlets: int = len(OUTLET_LANGS)) -> str:
    """Write outlet folders o00.. with their pages and rss.xml under root; describe them."""
    what, skeletons = templates()
    writers = {lang: Writer(ws) for lang, ws in _corpus().items()}
    texts: dict[int, tuple[int, str, list[str]]] = {}
    items: dict[int, list[str]] = {o: [] for o in range(outlets)}
    total = 0
    for i in range(pages):
        o, rng = i % outlets, random.Random(i)
        lang = OUTLET_LANGS[o % len(OUTLET_LANGS)]
        k = (i * 7) % len(skeletons)
        if i % 25 == 24 and i - outlets in texts:   # a republished (near-)copy
            k, title, paras = texts[i - outlets]
            title, paras = f"{title} (updated)", [*paras[:-1], ""]
        else:
            title = writers[lang].paragraph(rng, 8).rstrip(".")
            paras = [writers[lang].paragraph(rng, max(12, n)) for n in skeletons[k][1]]
        texts[i] = (k, title, paras)
        skeleton = skeletons[k][0]
        path = f"/o{o:02d}/news/{i}.html"
        body = skeleton.replace("MWTITLEMW", html.escape(title)).replace("MWURLMW", path)
        body = _fill(body, paras)
        (root / f"o{o:02d}" / "news").mkdir(parents=True, exist_ok=True)
        (root / path.lstrip("/")).write_text(body, "utf-8")
        total += len(body.encode())
        day = 1 + i % 28
        items[o].append(f"<item><title>{html.escape(title)}</title><link>{{{{BASE}}}}{path}"
                        f"</link><pubDate>Mon, {day:02d} Nov 2026 {i % 24:02d}:{i % 60:02d}:00 "
                        "+0000</pubDate></item>")
    for o, its in items.items():
        (root / f"o{o:02d}" / "rss.xml").write_text(
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Outlet {o}</title>'
            f'{"".join(its)}</channel></rss>', "utf-8")
    return f"{pages} pages ({total / pages / 1000:.0f} KB on average) over {outlets} " \
           f"outlets, {what}"


def _serve(root: Path, outlets: int, conn: Connection) -> None:
    """Child process: one keep-alive HTTP server per outlet, files held in memory."""
    servers = []
    for o in range(outlets):
        files = {f"/{p.relative_to(root)}": p.read_bytes()
                 for p in (root / f"o{o:02d}").rglob("*") if p.is_file()}
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(files))
        server.daemon_threads = True
        servers.append(server)
    import threading

    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    conn.send([s.server_address[1] for s in servers])
    conn.recv()   # anything (or EOF) = stop


def _handler(files: dict[str, bytes]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"     # keep-alive, as real servers

        def do_GET(self) -> None:
            body = files.get(self.path.split("?")[0])
            if body is not None and self.path.endswith(".xml"):
                base = f"http://{self.headers.get('Host', '')}".encode()
                body = body.replace(b"{{BASE}}", base)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/rss+xml" if self.path.endswith(
                ".xml") else "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class BigReplica:
    def __init__(self, root: Path, pages: int = 2000, outlets: int = len(OUTLET_LANGS)) -> None:
        self.root, self.pages, self.outlets = root, pages, outlets
        self.description = build_site(root, pages, outlets)
        self.ports: list[int] = []

    def __enter__(self) -> BigReplica:
        self._conn, child = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(self.root, self.outlets, child), daemon=True)
        self.process.start()
        self.ports = self._conn.recv()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._conn.send("stop")
        self.process.join(10)

    def pin_servers(self, cpus: set[int]) -> None:
        os.sched_setaffinity(self.process.pid or 0, cpus)

    def bodies(self) -> list[tuple[str, bytes]]:
        return [(f"http://127.0.0.1/o{i % self.outlets:02d}/news/{i}.html",
                 (self.root / f"o{i % self.outlets:02d}" / "news" / f"{i}.html").read_bytes())
                for i in range(self.pages)]

    def config_text(self, runner: str = "") -> str:
        hosts = ", ".join(f'"127.0.0.1:{p}"' for p in self.ports)
        sources = "".join(
            f'\n[[sources]]\nkey = "o{o:02d}"\nname = "Outlet {o}"\nfeeds = '
            f'["http://127.0.0.1:{p}/o{o:02d}/rss.xml"]\nlanguage = "{OUTLET_LANGS[o % 8]}"\n'
            for o, p in enumerate(self.ports))
        return (f"[fetch]\nallowed_private_hosts = [{hosts}]\nconcurrency = 8\nper_host = 4\n"
                f"host_delay = 0\nmax_articles_per_source = {self.pages}\n\n"
                f"[runner]\n{runner}\n{sources}")
