"""Benchmark the fetch layer: N article pages over H hosts, all served from 127.0.0.1.

    .venv/bin/python bench/bench_fetch.py [--pages 2000] [--hosts 50] [--per-host 2]
                                          [--concurrency 16] [--outlets-at-once 8]
                                          [--host-delay 0] [--latency 0.005]

Each host is its own ThreadingHTTPServer on its own port (so host = host:port, as the gate
and the address check see it) serving one RSS feed and N/H article pages built from the
replica's articles. Every outlet is harvested by the real code (`harvest_source`: robots.txt,
feed, politeness gate, page fetches in parallel, decoding, trafilatura extraction, language,
MinHash), `--outlets-at-once` outlets in parallel as the ingest flow does. Nothing is stored.

Prints pages/s, peak RSS, the highest number of requests in flight at one host as observed
by the servers (must not exceed --per-host), and the time the same pages take through
extraction alone (no HTTP), for comparison.
"""

from __future__ import annotations

import argparse
import resource
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from flows.crawl import Crawl
from flows.harvest import harvest_source
from flows.replica.server import SITE
from flows.settings import FetchSettings, Settings, Source
from flows.stages.article import build_article
from flows.stages.extract import extract
from flows.stages.fetch import make_client

TEMPLATES = sorted(SITE.glob("*/**/*.html"))


def page(i: int) -> bytes:
    """A distinct article: a replica page with its own number woven into the text."""
    html = TEMPLATES[i % len(TEMPLATES)].read_text("utf-8").replace("{{BASE}}", "")
    html = html.replace('rel="canonical"', 'rel="x-canonical"')
    return html.replace("<p>", f"<p>Report {i}, part {i % 7}. ", 3).encode()


class Hosts:
    """H servers on loopback; counts requests in flight per server."""

    def __init__(self, hosts: int, pages: int, latency: float) -> None:
        self.peak: Counter[int] = Counter()
        self.inflight: Counter[int] = Counter()
        self.lock = threading.Lock()
        self.servers: list[ThreadingHTTPServer] = []
        per = pages // hosts
        for h in range(hosts):
            self.servers.append(self._server(h, range(h * per, (h + 1) * per), latency))

    def _server(self, h: int, ids: range, latency: float) -> ThreadingHTTPServer:
        bench = self
        bodies = {f"/news/{i}": page(i) for i in ids}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with bench.lock:
                    bench.inflight[h] += 1
                    bench.peak[h] = max(bench.peak[h], bench.inflight[h])
                time.sleep(latency)
                if self.path == "/rss.xml":
                    port = int(self.server.server_address[1])  # type: ignore[index]
                    items = "".join(f"<item><title>{p}</title><link>http://127.0.0.1:"
                                    f"{port}{p}</link></item>" for p in bodies)
                    self._send(200, f'<rss version="2.0"><channel><title>h{h}</title>'
                                    f"{items}</channel></rss>".encode(), "application/rss+xml")
                elif self.path in bodies:
                    self._send(200, bodies[self.path], "text/html; charset=utf-8")
                else:
                    self._send(404, b"", "text/plain")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                # No longer in flight once the status line leaves: the client cannot have
                # finished earlier, so the count never overstates what it had open.
                with bench.lock:
                    bench.inflight[h] -= 1
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def close(self) -> None:
        for s in self.servers:
            s.shutdown()
            s.server_close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--per-host", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--outlets-at-once", type=int, default=8)
    ap.add_argument("--host-delay", type=float, default=0.0)
    ap.add_argument("--latency", type=float, default=0.005, help="server think time (s)")
    args = ap.parse_args()

    hosts = Hosts(args.hosts, args.pages, args.latency)
    fetch = FetchSettings(allowed_private_hosts=tuple(
        f"127.0.0.1:{s.server_address[1]}" for s in hosts.servers),
        per_host=args.per_host, concurrency=args.concurrency, host_delay=args.host_delay,
        max_articles_per_source=args.pages)
    sources = tuple(Source(key=f"h{i:02d}", name=f"host {i}",
                           feeds=(f"http://127.0.0.1:{s.server_address[1]}/rss.xml",))
                    for i, s in enumerate(hosts.servers))
    settings = Settings(path=Path("bench.toml"), sources=sources, fetch=fetch)
    crawl = Crawl.for_settings(fetch)

    def one(source: Source) -> int:
        with make_client(fetch) as client:
            return len(harvest_source(client, source, settings, lambda u: set(), crawl).articles)

    started = time.perf_counter()
    with ThreadPoolExecutor(args.outlets_at_once) as pool:
        stored = sum(pool.map(one, sources))
    took = time.perf_counter() - started
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hosts.close()

    n = args.hosts * (args.pages // args.hosts)
    bodies = [page(i) for i in range(n)]
    started = time.perf_counter()
    for i, body in enumerate(bodies):
        ex = extract(f"http://example.org/news/{i}", body.decode("utf-8"))
        if ex:
            build_article("bench", f"http://example.org/news/{i}", ex)
    alone = time.perf_counter() - started

    print(f"pages: {n} over {args.hosts} hosts (127.0.0.1, one port each), "
          f"articles built: {stored}")
    print(f"fetch + extract: {took:.1f} s = {n / took:.0f} pages/s "
          f"(outlets at once {args.outlets_at_once}, concurrency {args.concurrency}, "
          f"per host {args.per_host}, host delay {args.host_delay:g} s, "
          f"server latency {args.latency * 1000:g} ms)")
    print(f"extraction alone (same pages, one thread, no HTTP): {alone:.1f} s = "
          f"{n / alone:.0f} pages/s")
    print(f"peak RSS: {peak_rss:.0f} MB")
    print(f"highest per-host concurrency seen by the servers: {max(hosts.peak.values())} "
          f"(limit {args.per_host})")


if __name__ == "__main__":
    main()
