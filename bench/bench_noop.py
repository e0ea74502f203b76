"""Benchmark the no-op run: nothing new at 20 outlets whose feeds answer 304 (issue 8).

    .venv/bin/python bench/bench_noop.py [--outlets 20] [--articles 3] [--repeat 3]
                                         [--host-delay 0.5] [--per-host 2]

Each outlet is its own `ReplicaServer` on 127.0.0.1 (its own port, so its own host for the
politeness gate and robots.txt), serving a generated site: an RSS feed, an Atom feed and a
news sitemap, or a news sitemap alone, with `--articles` article pages (the replica's pages,
each made distinct). Some servers send ETag and Last-Modified, some only one of them; all
answer a matching If-None-Match / If-Modified-Since with 304. Half of them have a robots.txt.

The first run (`migwatch run`) fills a fresh warehouse. Then the no-op — the same run again —
is timed `--repeat` times through the real path, four ways:

- `migwatch run --config … --db …` as a subprocess, as an operator runs it: wall time
  including the interpreter, imports, Prefect's temporary API and the warehouse;
- as `migwatch serve` runs it on its schedule: `migwatch serve` (with the Prefect server it
  starts) serves the ingest deployment, a run of it is created through Prefect's API, and
  the time from the runner taking it (its Pending state: the run's own process, imports, the
  flow) to its Completed state is read from the run's states;
- `migwatch run` by hand again while that `migwatch serve` runs for the same warehouse, as
  on a server where the service runs: PREFECT_API_URL still unset, the run finds serve's own
  Prefect server through `<warehouse>.serve.json` and uses it instead of starting a
  temporary API (Prefect's server package takes 2.5-5 s to import, on the path of every run
  by hand that starts one): wall time as above;
- `ingest_flow(...)` called in this process after a warm-up call (imports done, Prefect's
  API up): the flow run alone.

Counted at the servers for each no-op: discovery requests (feeds and sitemaps), 304s
answered, robots.txt requests and article page fetches (must be 0); new articles come from
the run's own report (must be 0). Target: < 5 s wall, for the run by hand and the served one.

The crawl settings are the product defaults (`host_delay` 0.5 s, `per_host` 2) unless given.
`PREFECT_API_URL` is unset for the subprocesses (the operator's `migwatch run` by hand), and
Prefect's home is a temporary folder created by the first run, as it would be on a machine
that has run migwatch before. `--migwatch PATH` times another checkout's command on the same
outlets (`--skip-in-process` then, as the in-process flow is always this checkout's).
"""

from __future__ import annotations

import argparse
import atexit
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # run as a script: make `bench` importable

_PREFECT_HOME = tempfile.mkdtemp(prefix="migwatch-bench-noop-prefect-")
atexit.register(shutil.rmtree, _PREFECT_HOME, True)   # last: after Prefect stops its server
os.environ["PREFECT_HOME"] = _PREFECT_HOME     # this process's own (see main)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# A loaded machine can take longer than Prefect's default to start its temporary API:
# waiting longer only changes when a run would have failed.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.pop("PREFECT_API_URL", None)

from bench.bench_fetch import page  # noqa: E402
from bench.machine import steadiness_line  # noqa: E402
from flows.replica.server import ReplicaServer  # noqa: E402
from flows.settings import FetchSettings  # noqa: E402

KINDS = ("rss", "atom+sitemap", "sitemap")
VALIDATORS = (("etag", "last-modified"), ("etag",), ("last-modified",))


@dataclass
class Outlet:
    key: str
    kind: str
    server: ReplicaServer
    discovery: tuple[str, ...]      # paths of its feeds and sitemaps


def _rss(key: str, links: list[str]) -> str:
    items = "".join(f"<item><title>{key} story {n}</title><link>{{{{BASE}}}}{link}</link>"
                    f"<pubDate>Mon, 0{1 + n % 9} Jun 2026 08:00:00 +0000</pubDate></item>"
                    for n, link in enumerate(links))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>{key}</title><link>{{{{BASE}}}}/</link>{items}</channel></rss>")


def _atom(key: str, links: list[str]) -> str:
    entries = "".join(f'<entry><title>{key} story {n}</title><link href="{{{{BASE}}}}{link}"/>'
                      f"<id>tag:{key},2026:{n}</id><updated>2026-06-0{1 + n % 9}T08:00:00Z"
                      f"</updated></entry>" for n, link in enumerate(links))
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{key}</title><id>tag:{key},2026:feed</id>"
            f"<updated>2026-06-09T08:00:00Z</updated>{entries}</feed>")


def _sitemap(links: list[str]) -> str:
    urls = "".join(f"<url><loc>{{{{BASE}}}}{link}</loc><news:news><news:publication_date>"
                   f"2026-06-0{1 + n % 9}T08:00:00Z</news:publication_date></news:news></url>"
                   for n, link in enumerate(links))
    return ('<?xml version="1.0" encoding="UTF-8"?><urlset '
            'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">' f"{urls}</urlset>")


def build_outlets(root: Path, n_outlets: int, n_articles: int) -> list[Outlet]:
    """Write each outlet's site under `root` and start its server."""
    outlets = []
    for i in range(n_outlets):
        key, kind = f"o{i:02d}", KINDS[i % len(KINDS)]
        site = root / key
        (site / "news").mkdir(parents=True)
        links = []
        for j in range(n_articles):
            number = i * n_articles + j
            (site / "news" / f"{number}.html").write_bytes(page(number))
            links.append(f"/news/{number}.html")
        files: dict[str, str] = {}
        if kind == "rss":
            files["rss.xml"] = _rss(key, links)
        if kind == "atom+sitemap":
            files["atom.xml"] = _atom(key, links)
        if kind in ("atom+sitemap", "sitemap"):
            files["sitemap.xml"] = _sitemap(links)
        if i % 2 == 0:
            files["robots.txt"] = "User-agent: *\nDisallow: /private/\n"
        for name, text in files.items():
            (site / name).write_text(text, encoding="utf-8")
        server = ReplicaServer(site, validators=VALIDATORS[i % len(VALIDATORS)]).start()
        outlets.append(Outlet(key, kind, server, tuple(f"/{name}" for name in files
                                                       if name.endswith(".xml"))))
    return outlets


def write_config(path: Path, outlets: list[Outlet], host_delay: float, per_host: int) -> None:
    hosts = ", ".join(f'"{o.server.base_url.removeprefix("http://")}"' for o in outlets)
    lines = ["[fetch]", f"allowed_private_hosts = [{hosts}]", f"host_delay = {host_delay}",
             f"per_host = {per_host}", "",
             "[digest]", f'outbox = "{path.parent / "outbox"}"', ""]
    for o in outlets:
        base = o.server.base_url
        feeds = [f"{base}{p}" for p in o.discovery if p != "/sitemap.xml"]
        sitemaps = [f"{base}{p}" for p in o.discovery if p == "/sitemap.xml"]
        lines += ["[[sources]]", f'key = "{o.key}"', f'name = "Outlet {o.key} ({o.kind})"',
                  f"feeds = {feeds!r}".replace("'", '"'),
                  f"sitemaps = {sitemaps!r}".replace("'", '"'), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


@dataclass
class Counts:
    discovery: int
    not_modified: int
    robots: int
    articles: int


def counts(outlets: list[Outlet]) -> Counts:
    return Counts(
        discovery=sum(o.server.hits[p] for o in outlets for p in o.discovery),
        not_modified=sum(sum(o.server.not_modified.values()) for o in outlets),
        robots=sum(o.server.hits["/robots.txt"] for o in outlets),
        articles=sum(o.server.article_hits() for o in outlets))


def reset(outlets: list[Outlet]) -> None:
    for o in outlets:
        o.server.hits.clear()
        o.server.not_modified.clear()


@dataclass
class CliRun:
    wall: float
    cpu: float                # user + system, with the Prefect API child: less load-dependent
    new: int
    startup: float | None     # process start -> flow run begins (imports, Prefect's API)
    flow: float | None        # flow run begins -> flow run finished
    output: str


def _log_time(line: str, day: date) -> float | None:
    """Epoch seconds of a Prefect log line ("HH:MM:SS.mmm | LEVEL | ...")."""
    try:
        t = datetime.strptime(line[:12], "%H:%M:%S.%f").time()
    except ValueError:
        return None
    return datetime.combine(day, t).timestamp()


def cli_run(exe: Path, cfg: Path, db: Path, env: dict[str, str]) -> CliRun:
    """`migwatch run` as a subprocess, with Prefect's INFO log read for the breakdown."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started_at, started = time.time(), time.perf_counter()
    proc = subprocess.run([str(exe), "run", "--config", str(cfg), "--db", str(db)],
                          capture_output=True, text=True, env=env, timeout=600)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"migwatch run exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    found = re.search(r"^(\d+) new articles from (\d+) of (\d+) outlets", proc.stdout, re.M)
    if not found or found.group(2) != found.group(3):
        raise SystemExit(f"unexpected output of migwatch run:\n{proc.stdout}\n{proc.stderr}")
    day = datetime.fromtimestamp(started_at).date()
    logs = proc.stdout + proc.stderr
    begin = next((_log_time(ln, day) for ln in logs.splitlines()
                  if "Beginning flow run" in ln), None)
    end = next((_log_time(ln, day) for ln in logs.splitlines()
                if "Flow run" in ln and "Finished in state" in ln), None)
    return CliRun(took, cpu, int(found.group(1)), begin - started_at if begin else None,
                  end - begin if begin and end else None, logs)


def _stored(db: Path) -> int:
    from warehouse.db import opened

    with opened(db, read_only=True, retry_seconds=30) as con:
        row = con.execute("SELECT count(*) FROM doc").fetchone()
    return int(row[0]) if row else 0


def served_runs(exe: Path, cfg: Path, db: Path, env: dict[str, str], outlets: list[Outlet],
                repeat: int, home: Path) -> tuple[list[float], list[float]]:
    """Seconds from Pending to Completed of `repeat` no-op runs of the ingest deployment that
    `migwatch serve` serves (its own Prefect server, in `home`); then the wall seconds of
    `repeat` no-op `migwatch run`s by hand on the same machine, which find that server's API
    (serve's state file beside the warehouse) instead of starting a temporary one."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.prefect_api import stop_process

    served_cfg = cfg.with_name("served.toml")   # on demand only: no run comes due meanwhile
    served_cfg.write_text(cfg.read_text(encoding="utf-8") + '\n[schedule]\ningest_cron = '
                          '"0 6 1 1 *"\ndigest_cron = ""\n', encoding="utf-8")
    log_path = home.with_suffix(".log")
    home.mkdir(parents=True, exist_ok=True)
    serve_env = {**env, "PREFECT_HOME": str(home), "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    times: list[float] = []
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen([str(exe), "serve", "--config", str(served_cfg), "--db",
                                 str(db)], env=serve_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while not (found := re.search(r"Prefect server at (\S+)", log_path.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"migwatch serve did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        with temporary_settings({PREFECT_API_URL: found.group(1)}), \
                get_client(sync_client=True) as client:
            while True:
                try:
                    deployment = client.read_deployment_by_name("migwatch-ingest/ingest")
                    break
                except Exception:   # not registered yet
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"migwatch serve registered no deployment:\n"
                                         f"{log_path.read_text()}") from None
                    time.sleep(0.2)
            for i in range(repeat):
                reset(outlets)
                stored = _stored(db)
                run = client.create_flow_run_from_deployment(deployment.id)
                while not ((state := client.read_flow_run(run.id).state) and state.is_final()):
                    time.sleep(0.1)
                stamps = {s.type.value: s.timestamp for s in client.read_flow_run_states(run.id)}
                if state.type.value != "COMPLETED" or "PENDING" not in stamps:
                    raise SystemExit(f"served run ended {state.type.value}:\n"
                                     f"{log_path.read_text()[-3000:]}")
                times.append((stamps["COMPLETED"] - stamps["PENDING"]).total_seconds())
                c, new = counts(outlets), _stored(db) - stored
                print(line(f"no-op {i + 1}: served run", times[-1], c, new)
                      + "  (Pending -> Completed)", flush=True)
                if c.articles or new:
                    print(f"NOT A NO-OP:\n{log_path.read_text()[-3000:]}")
        by_hand: list[float] = []
        for i in range(repeat):
            reset(outlets)
            hand = cli_run(exe, cfg, db, env)
            by_hand.append(hand.wall)
            print(line(f"no-op {i + 1}: run, served API", hand.wall, counts(outlets), hand.new)
                  + "  (migwatch run beside migwatch serve)", flush=True)
            if f"migwatch serve running for this warehouse ({found.group(1)})" not in hand.output:
                print(f"DID NOT USE SERVE'S PREFECT API:\n{hand.output[-3000:]}")
            if counts(outlets).articles or hand.new:
                print(f"NOT A NO-OP:\n{hand.output}")
    finally:
        stop_process(proc, 90)
    return times, by_hand


def line(label: str, took: float, c: Counts, new: int) -> str:
    return (f"{label:<28} {took:6.2f} s  discovery requests {c.discovery:3d}, 304s "
            f"{c.not_modified:3d}, robots.txt {c.robots:3d}, article fetches {c.articles:3d}, "
            f"new articles {new}")


def main(argv: list[str] | None = None) -> int:
    defaults = FetchSettings()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--outlets", type=int, default=20)
    ap.add_argument("--articles", type=int, default=3, help="article pages per outlet")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--host-delay", type=float, default=defaults.host_delay)
    ap.add_argument("--per-host", type=int, default=defaults.per_host)
    ap.add_argument("--migwatch", type=Path, default=Path(sys.executable).parent / "migwatch",
                    help="the command to time (e.g. another checkout's, to compare)")
    ap.add_argument("--skip-in-process", action="store_true",
                    help="time only the subprocess")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="migwatch-bench-noop-") as tmp_name:
        tmp = Path(tmp_name)
        outlets = build_outlets(tmp / "sites", args.outlets, args.articles)
        cfg, db = tmp / "sources.toml", tmp / "warehouse.duckdb"
        write_config(cfg, outlets, args.host_delay, args.per_host)
        env = {k: v for k, v in os.environ.items()
               if k != "PREFECT_API_URL" and not k.startswith("MIGWATCH_")}
        env["PREFECT_HOME"] = str(tmp / "prefect-cli")   # the operator's, kept between runs
        env["PREFECT_LOGGING_LEVEL"] = "INFO"            # flow start/end times, for the breakdown
        print(f"{args.outlets} outlets on 127.0.0.1 (one port each: "
              f"{', '.join(f'{sum(o.kind == k for o in outlets)} {k}' for k in KINDS)}), "
              f"{args.articles} articles each; host_delay {args.host_delay:g} s, "
              f"per_host {args.per_host}", flush=True)
        print(steadiness_line(min(os.sched_getaffinity(0))), flush=True)

        first = cli_run(args.migwatch, cfg, db, env)
        print(line("first run (fills the db)", first.wall, counts(outlets), first.new),
              flush=True)
        if first.new == 0 or counts(outlets).articles == 0:
            raise SystemExit("the first run stored nothing: the benchmark is meaningless")

        cli_times, cli_cpu = [], []
        for i in range(args.repeat):
            reset(outlets)
            run = cli_run(args.migwatch, cfg, db, env)
            c = counts(outlets)
            cli_times.append(run.wall)
            cli_cpu.append(run.cpu)
            print(line(f"no-op {i + 1}: migwatch run", run.wall, c, run.new), flush=True)
            if run.startup is not None and run.flow is not None:
                print(f"{'':<28} = {run.startup:.2f} s until the flow run begins, "
                      f"{run.flow:.2f} s flow run, "
                      f"{run.wall - run.startup - run.flow:.2f} s to exit; "
                      f"{run.cpu:.2f} s CPU", flush=True)
            if c.articles or run.new:
                print(f"NOT A NO-OP:\n{run.output}")

        served, by_hand_api = ([], []) if args.skip_in_process else served_runs(
            Path(sys.executable).parent / "migwatch", cfg, db, env, outlets, args.repeat,
            tmp / "prefect-serve")

        flow_times = []
        if not args.skip_in_process:
            from flows.ingest import ingest_flow

            reset(outlets)
            started = time.perf_counter()
            report = ingest_flow(str(cfg), str(db))
            print(line("no-op in-process, warm-up", time.perf_counter() - started,
                       counts(outlets), report.new_articles) + "  (starts Prefect's API)",
                  flush=True)
            for i in range(args.repeat):
                reset(outlets)
                started = time.perf_counter()
                report = ingest_flow(str(cfg), str(db))
                flow_times.append(time.perf_counter() - started)
                print(line(f"no-op {i + 1}: ingest_flow()", flow_times[-1], counts(outlets),
                           report.new_articles), flush=True)
        for o in outlets:
            o.server.stop()

    cli = statistics.median(cli_times)
    load = os.getloadavg()[0]
    print(steadiness_line(min(os.sched_getaffinity(0))))
    print(f"\nmedian of {args.repeat}: migwatch run (subprocess) {cli:.2f} s wall "
          f"({'under' if cli < 5 else 'OVER'} the 5 s target), "
          f"{statistics.median(cli_cpu):.2f} s CPU", end="")
    if served:
        median = statistics.median(served)
        print(f"; served run {median:.2f} s ({'under' if median < 5 else 'OVER'} the target)",
              end="")
    if by_hand_api:
        median = statistics.median(by_hand_api)
        print(f"; migwatch run beside migwatch serve {median:.2f} s "
              f"({'under' if median < 5 else 'OVER'} the target)", end="")
    if flow_times:
        print(f"; ingest_flow() in-process {statistics.median(flow_times):.2f} s", end="")
    print(f"\n(load average {load:.1f} on {os.cpu_count()} cores: figures on a busy machine "
          "are indicative only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
