"""Load `sources.toml` once into frozen, validated objects.

Everything downstream trusts these objects, so every check lives here: an unknown key or a
bad value stops start-up with a message naming the file, the key and (where it can be found)
the line, instead of surfacing later as a confusing failure halfway through a run.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flows.schedule_check import cron_problem, timezone_problem
from flows.subscribers import (
    Channel,
    Subscriber,
    legacy,
    parse_operator,
    parse_subscribers,
    sender_problem,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "sources.toml"
DEFAULT_TOPICS = PROJECT_ROOT / "topics.toml"
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
LANGS = ("en", "ru", "tg")


class ConfigError(ValueError):
    """A configuration file is invalid; the message names file, key and line."""


@dataclass(frozen=True)
class FetchSettings:
    allow_private_addresses: bool = False
    user_agent: str = "migwatch/0.1 (+https://github.com/migwatch/migwatch; news monitor)"
    timeout: float = 20.0
    max_bytes: int = 10_000_000
    max_redirects: int = 5
    concurrency: int = 8
    max_articles_per_source: int = 200
    # Crawler politeness and limits (issue 3); see README "Fetching".
    allowed_private_hosts: tuple[str, ...] = ()   # "host:port" exceptions to the address check
    connect_timeout: float = 10.0
    deadline: float = 60.0           # seconds per URL, all attempts and the whole body
    retries: int = 2                 # extra attempts for timeouts, connection errors, 5xx, 429
    backoff: float = 1.0             # first retry delay; doubles each time, with jitter
    retry_after_cap: float = 30.0    # a longer Retry-After gives up for this run
    per_host: int = 2                # requests in flight per host
    host_delay: float = 0.5          # seconds between request starts to one host
    respect_robots: bool = True
    robots_max_age_hours: float = 24.0   # a robots.txt this fresh is not fetched again
    max_decompression_ratio: int = 100
    sitemap_depth: int = 2           # sitemap indexes followed this deep
    max_sitemaps: int = 50           # sitemaps asked per outlet and run (an index's newest first)
    # Seconds an outlet may take per run: discovery starts no request after half of it, page
    # fetching none after all of it; what was fetched is kept, the rest waits for next run.
    outlet_budget: float = 600.0
    failing_after: int = 3           # failed runs in a row before an outlet is flagged
    # A page remembered in rejected_url (no article text, a dead link, or disallowed by a rule
    # of robots.txt) is asked again when a feed still lists it this many days later: a page
    # may gain its text, a 404 be published, a rule be lifted. 0: never asked again.
    retry_rejected_days: float = 7.0


@dataclass(frozen=True)
class DedupSettings:
    threshold: float = 0.5  # chosen on tests/data/dup_eval.jsonl (bench/eval_dedup.py)
    shingle_size: int = 4
    # Near-copies are looked for among articles stored in the last N days and the seeds, so
    # that the search costs a year's articles however old the warehouse grows; None (0 in
    # the file): among everything stored. Exact copies (URL, text hash) are always found.
    window_days: int | None = 365


@dataclass(frozen=True)
class DigestSettings:
    recipients: tuple[str, ...] = ("analysts@example.org",)
    sender: str = "migwatch@localhost"
    outbox: Path = PROJECT_ROOT / "var" / "outbox"
    max_items_per_topic: int = 20
    window_days: int = 7
    webhook_timeout: float = 30.0    # seconds a JSON webhook (digest or operator) has to answer


@dataclass(frozen=True)
class StorageSettings:
    """Raw HTML retention (table `doc_html`): off by default; when on, a page larger than
    raw_html_max_bytes keeps only its size, and rows older than raw_html_max_age_days (when
    set) are deleted after each ingest run."""

    keep_raw_html: bool = False
    raw_html_max_bytes: int = 1_000_000
    raw_html_max_age_days: int | None = None   # None: kept as long as the article


@dataclass(frozen=True)
class ScheduleSettings:
    """When `migwatch serve` runs ingest (every N minutes or a cron) and digest (a cron)."""

    ingest_interval_minutes: float | None = 240.0
    ingest_cron: str | None = None
    digest_cron: str | None = "0 6 * * *"
    timezone: str = "UTC"


RUNNER_KINDS = ("threads", "processes", "dask")


@dataclass(frozen=True)
class RunnerSettings:
    """Where ingest builds articles (trafilatura, language, MinHash); see README "Runners".

    Fetching always runs in threads of the flow's process (one politeness gate per run) and
    the single DuckDB writer stays there too; `kind` moves only the CPU-heavy building:
    "threads" (in the fetching threads: one core), "processes" (a pool of `workers` local
    processes) or "dask" (a Dask cluster at `dask_address`, or a LocalCluster of `workers`
    processes when it is empty)."""

    kind: str = "processes"
    workers: int = 0           # 0 = one per CPU this process may use
    dask_address: str = ""

    def worker_count(self) -> int:
        if self.workers:
            return self.workers
        if hasattr(os, "sched_getaffinity"):   # CPUs this process may use (taskset, cgroups)
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Source:
    key: str
    name: str
    feeds: tuple[str, ...]
    language: str | None = None
    homepage: str | None = None
    sitemaps: tuple[str, ...] = ()          # XML (news) sitemaps or sitemap indexes
    listings: tuple[str, ...] = ()          # HTML pages whose links matching link_pattern
    link_pattern: str | None = None         # are articles (a regular expression)
    lookback_days: int | None = None        # sitemap entries older than this are ignored


@dataclass(frozen=True)
class Settings:
    path: Path
    sources: tuple[Source, ...]
    fetch: FetchSettings = field(default_factory=FetchSettings)
    dedup: DedupSettings = field(default_factory=DedupSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    topics_path: Path = DEFAULT_TOPICS
    subscribers: tuple[Subscriber, ...] = ()   # [[subscribers]] then [digest] recipients
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    operator: tuple[Channel, ...] = ()          # [operator]: outlet incidents go here
    runner: RunnerSettings = field(default_factory=RunnerSettings)

    def source(self, key: str) -> Source:
        for s in self.sources:
            if s.key == key:
                return s
        raise KeyError(key)


def default_db_path() -> Path:
    """The warehouse file: MIGWATCH_DB, else a file under the project."""
    env = os.environ.get("MIGWATCH_DB")
    return Path(env) if env else PROJECT_ROOT / "var" / "migwatch.duckdb"


def default_config_path() -> Path:
    env = os.environ.get("MIGWATCH_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def _line_of(text: str, key: str, section: str | None, occurrence: int = 0) -> int | None:
    """Best-effort line number of `key = …` inside the n-th `section` block (tomllib has none)."""
    lines = text.splitlines()
    start = 0
    if section is not None:
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(section)}\s*\]\]?\s*$")
        seen = -1
        for i, line in enumerate(lines):
            if header.match(line):
                seen += 1
                if seen == occurrence:
                    start = i
                    break
        else:
            return None
    key_re = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(start, len(lines)):
        if i > start and section is not None and re.match(r"^\s*\[", lines[i]):
            break
        if key_re.match(lines[i]):
            return i + 1
    return start + 1 if section is not None else None


class _Reader:
    """Pulls typed values out of one TOML table and reports problems precisely."""

    def __init__(self, path: Path, text: str, table: dict[str, Any], where: str,
                 section: str | None, occurrence: int = 0) -> None:
        self.path, self.text, self.table = path, text, table
        self.where, self.section, self.occurrence = where, section, occurrence

    def fail(self, key: str, message: str) -> ConfigError:
        line = _line_of(self.text, key, self.section, self.occurrence)
        at = f"{self.path}:{line}" if line else str(self.path)
        name = f"{self.where}.{key}" if self.where else key
        return ConfigError(f"{at}: {name}: {message}")

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                raise self.fail(key, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None,
            required: bool = False) -> Any:
        if key not in self.table:
            if required:
                raise self.fail(key, "is required")
            return default
        value = self.table[key]
        if isinstance(value, bool) and kind in (int, float):
            raise self.fail(key, f"expected a number, got {value!r}")
        if kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(key, f"expected {names}, got {type(value).__name__} {value!r}")
        return value

    def positive(self, key: str, kind: type, default: Any) -> Any:
        value = self.get(key, kind, default)
        if value <= 0:
            raise self.fail(key, f"must be > 0, got {value!r}")
        return value

    def strings(self, key: str, default: tuple[str, ...] = (), required: bool = False
                ) -> tuple[str, ...]:
        value = self.get(key, list, None, required)
        if value is None:
            return default
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, "expected a list of non-empty strings")
        return tuple(v.strip() for v in value)


_HOST_LABEL = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$")


def _host_problem(host: str) -> str | None:
    """Why `host` (as urlsplit gives it: lower-case, brackets stripped) is no host to fetch
    from, or None. httpx accepts 'exa mple.org' or 'a<b' (it percent-encodes them), and the
    fetch then fails on every run."""
    if ":" in host:   # an IPv6 literal: urlsplit has checked it
        return None
    labels = host.removesuffix(".").split(".")
    if not all(_HOST_LABEL.match(label) for label in labels):
        return "malformed host"
    if re.fullmatch(r"[0-9.]+", host):
        import ipaddress

        try:
            ipaddress.IPv4Address(host.removesuffix("."))
        except ValueError:
            return "not an IPv4 address"
    return None


def _url(reader: _Reader, key: str, url: str) -> str:
    """An absolute http(s) URL with a well-formed host and port, and nothing invisible."""
    if not re.match(r"^https?://", url):
        raise reader.fail(key, f"not an http(s) URL: {url!r}")
    if any(c.isspace() or not c.isprintable() for c in url):
        # urlsplit drops tabs and newlines silently; a space must be written %20
        raise reader.fail(key, f"whitespace or a control character in URL {url!r}")
    try:
        parts = urlsplit(url)
        port = parts.port   # raises ValueError for a port that is not 0-65535
    except ValueError as exc:
        raise reader.fail(key, f"not a valid URL: {url!r} ({exc})") from exc
    if not parts.hostname:
        raise reader.fail(key, f"no host in URL {url!r}")
    if port == 0:
        raise reader.fail(key, f"port 0 in URL {url!r} (must be 1-65535)")
    problem = _host_problem(parts.hostname)
    if problem:
        raise reader.fail(key, f"{problem} {parts.hostname!r} in URL {url!r}")
    return url


def _parse_sources(path: Path, text: str, raw: Any) -> tuple[Source, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: sources: at least one [[sources]] table is required")
    out: list[Source] = []
    seen: set[str] = set()
    for i, table in enumerate(raw):
        r = _Reader(path, text, table, f"sources[{i}]", "sources", i)
        r.check_keys({"key", "name", "feeds", "language", "homepage", "sitemaps", "listings",
                      "link_pattern", "lookback_days"})
        key = r.get("key", str, required=True)
        if not KEY_RE.match(key):
            raise r.fail("key", f"{key!r} must be lower-case letters, digits and _ (2-48 chars)")
        if key in seen or key == "seed":
            raise r.fail("key", f"{key!r} is used twice or reserved")
        seen.add(key)
        feeds = tuple(_url(r, "feeds", u) for u in r.strings("feeds"))
        sitemaps = tuple(_url(r, "sitemaps", u) for u in r.strings("sitemaps"))
        listings = tuple(_url(r, "listings", u) for u in r.strings("listings"))
        if not (feeds or sitemaps or listings):
            raise r.fail("feeds", "is required (or sitemaps, or listings)")
        pattern = r.get("link_pattern", str)
        if listings and not pattern:
            raise r.fail("link_pattern", "is required with listings")
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise r.fail("link_pattern", f"not a regular expression: {exc}") from exc
        lookback = r.get("lookback_days", int)
        if lookback is not None and lookback <= 0:
            raise r.fail("lookback_days", f"must be > 0, got {lookback}")
        language = r.get("language", str)
        if language is not None and language not in LANGS:
            raise r.fail("language", f"{language!r} is not one of {', '.join(LANGS)}")
        homepage = r.get("homepage", str)
        out.append(Source(key=key, name=r.get("name", str, required=True), feeds=feeds,
                          language=language,
                          homepage=_url(r, "homepage", homepage) if homepage else None,
                          sitemaps=sitemaps, listings=listings, link_pattern=pattern,
                          lookback_days=lookback))
    return tuple(out)


_CRAWL_KEYS = ("allowed_private_hosts", "connect_timeout", "deadline", "retries", "backoff",
               "retry_after_cap", "per_host", "host_delay", "respect_robots",
               "robots_max_age_hours",
               "max_decompression_ratio", "sitemap_depth", "failing_after",
               "retry_rejected_days", "max_sitemaps", "outlet_budget")


def _crawl_settings(f: _Reader, fd: FetchSettings) -> dict[str, Any]:
    """The crawler keys of [fetch] (issue 3), kept apart so the section stays readable."""
    hosts = f.strings("allowed_private_hosts")
    for h in hosts:
        m = re.match(r"^[^\s:/]+:(\d+)$", h)
        if not m or not 1 <= int(m.group(1)) <= 65535:
            raise f.fail("allowed_private_hosts",
                         f"expected 'host:port' (port 1-65535), got {h!r}")
    out: dict[str, Any] = {"allowed_private_hosts": hosts,
                           "respect_robots": f.get("respect_robots", bool, fd.respect_robots)}
    for key in ("connect_timeout", "deadline", "backoff", "retry_after_cap", "host_delay",
                "outlet_budget"):
        out[key] = f.get(key, float, getattr(fd, key))
        if out[key] < 0 or (key in ("connect_timeout", "deadline", "outlet_budget")
                            and out[key] == 0):
            raise f.fail(key, f"must be > 0, got {out[key]!r}")
    out["robots_max_age_hours"] = f.get("robots_max_age_hours", float,
                                        fd.robots_max_age_hours)
    if not 0 <= out["robots_max_age_hours"] <= 24:   # RFC 9309 2.4: cached at most a day
        raise f.fail("robots_max_age_hours",
                     f"must be between 0 and 24, got {out['robots_max_age_hours']!r}")
    out["retry_rejected_days"] = f.get("retry_rejected_days", float, fd.retry_rejected_days)
    if out["retry_rejected_days"] < 0:
        raise f.fail("retry_rejected_days",
                     f"must be >= 0 (0: never), got {out['retry_rejected_days']!r}")
    for key in ("retries", "sitemap_depth"):
        out[key] = f.get(key, int, getattr(fd, key))
        if out[key] < 0:
            raise f.fail(key, f"must be >= 0, got {out[key]!r}")
    for key in ("per_host", "max_decompression_ratio", "failing_after", "max_sitemaps"):
        out[key] = f.positive(key, int, getattr(fd, key))
    return out


def load_settings(path: Path | str | None = None) -> Settings:
    """Parse and validate a sources file; raise ConfigError on the first problem."""
    cfg_path = Path(path) if path is not None else default_config_path()
    try:
        text = cfg_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{cfg_path}: cannot read configuration: {exc.strerror}") from exc
    return parse_settings(text, cfg_path)


def _user_agent(f: _Reader, default: str) -> str:
    """The User-Agent header: printable ASCII (HTTP headers are; another would fail every
    request of the run)."""
    value = f.get("user_agent", str, default)
    if not value.strip() or not value.isascii() or not value.isprintable():
        raise f.fail("user_agent", f"must be printable ASCII text, got {value!r}")
    return value


def parse_settings(text: str, path: Path) -> Settings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    top = _Reader(path, text, data, "", None)
    top.check_keys({"fetch", "dedup", "digest", "topics", "sources", "subscribers",
                    "schedule", "storage", "operator", "runner"})

    f = _Reader(path, text, top.get("fetch", dict, {}), "fetch", "fetch")
    f.check_keys({"allow_private_addresses", "user_agent", "timeout", "max_bytes",
                  "max_redirects", "concurrency", "max_articles_per_source",
                  *_CRAWL_KEYS})
    fd = FetchSettings()
    fetch = FetchSettings(
        allow_private_addresses=f.get("allow_private_addresses", bool,
                                      fd.allow_private_addresses),
        user_agent=_user_agent(f, fd.user_agent),
        timeout=f.positive("timeout", float, fd.timeout),
        max_bytes=f.positive("max_bytes", int, fd.max_bytes),
        max_redirects=f.get("max_redirects", int, fd.max_redirects),
        concurrency=f.positive("concurrency", int, fd.concurrency),
        max_articles_per_source=f.positive("max_articles_per_source", int,
                                           fd.max_articles_per_source),
        **_crawl_settings(f, fd),
    )

    d = _Reader(path, text, top.get("dedup", dict, {}), "dedup", "dedup")
    d.check_keys({"threshold", "shingle_size", "window_days"})
    threshold = d.get("threshold", float, DedupSettings.threshold)
    if not 0.3 <= threshold <= 1.0:
        raise d.fail("threshold", f"must be between 0.3 and 1.0, got {threshold}")
    shingle = d.get("shingle_size", int, DedupSettings.shingle_size)
    if not 2 <= shingle <= 9:
        raise d.fail("shingle_size", f"must be between 2 and 9, got {shingle}")
    window = d.get("window_days", int, DedupSettings.window_days or 0)
    if window < 0:
        raise d.fail("window_days", f"must be 0 (no window) or more, got {window}")
    dedup = DedupSettings(threshold=threshold, shingle_size=shingle, window_days=window or None)

    g = _Reader(path, text, top.get("digest", dict, {}), "digest", "digest")
    g.check_keys({"recipients", "sender", "outbox", "max_items_per_topic", "window_days",
                  "webhook_timeout"})
    gd = DigestSettings()
    recipients = g.strings("recipients", gd.recipients)
    for addr in recipients:
        if not re.match(r"^[^@\s]+@[^@\s]+$", addr):
            raise g.fail("recipients", f"not an email address: {addr!r}")
    outbox = g.get("outbox", str)
    sender = g.get("sender", str, gd.sender)
    problem = sender_problem(sender)
    if problem:   # it is the SMTP envelope sender too: a server refusing it refuses all mail
        raise g.fail("sender", f"cannot send from {sender!r}: {problem}")
    digest = DigestSettings(
        recipients=recipients,
        sender=sender,
        outbox=(path.parent / outbox) if outbox else gd.outbox,
        max_items_per_topic=g.positive("max_items_per_topic", int, gd.max_items_per_topic),
        window_days=g.positive("window_days", int, gd.window_days),
        webhook_timeout=g.positive("webhook_timeout", float, gd.webhook_timeout),
    )

    t = _Reader(path, text, top.get("topics", dict, {}), "topics", "topics")
    t.check_keys({"rules"})
    rules = t.get("rules", str)
    topics_path = (path.parent / rules) if rules else DEFAULT_TOPICS
    if rules and not topics_path.is_file():
        # here, not in load_rules: only here are the sources file, key and line known
        what = "is a directory" if topics_path.is_dir() else "does not exist"
        raise t.fail("rules", f"cannot read topic rules: {topics_path.resolve()} {what}")

    sources = _parse_sources(path, text, data.get("sources"))
    subscribers = parse_subscribers(
        data.get("subscribers"), lambda tbl, i: _Reader(path, text, tbl, f"subscribers[{i}]",
                                                        "subscribers", i),
        lambda msg: ConfigError(f"{path}: {msg}"), {s.key for s in sources}, LANGS,
        is_topic=_topic_check(topics_path), topics_file=topics_path)
    if subscribers and "recipients" not in g.table:
        digest = DigestSettings(**{**digest.__dict__, "recipients": ()})
    names = {s.name for s in subscribers}
    subscribers += tuple(s for s in legacy(digest.recipients, lambda m: g.fail("recipients", m))
                         if s.name not in names)
    return Settings(path=path, sources=sources, fetch=fetch, dedup=dedup, digest=digest,
                    topics_path=topics_path, subscribers=subscribers,
                    schedule=_parse_schedule(_Reader(path, text, top.get("schedule", dict, {}),
                                                     "schedule", "schedule")),
                    storage=_parse_storage(_Reader(path, text, top.get("storage", dict, {}),
                                                   "storage", "storage")),
                    operator=parse_operator(_Reader(path, text, top.get("operator", dict, {}),
                                                    "operator", "operator")),
                    runner=_parse_runner(_Reader(path, text, top.get("runner", dict, {}),
                                                 "runner", "runner")))


def _parse_storage(r: _Reader) -> StorageSettings:
    r.check_keys({"keep_raw_html", "raw_html_max_bytes", "raw_html_max_age_days"})
    sd = StorageSettings()
    age = r.get("raw_html_max_age_days", int)
    if age is not None and age <= 0:
        raise r.fail("raw_html_max_age_days", f"must be > 0, got {age}")
    return StorageSettings(
        keep_raw_html=r.get("keep_raw_html", bool, sd.keep_raw_html),
        raw_html_max_bytes=r.positive("raw_html_max_bytes", int, sd.raw_html_max_bytes),
        raw_html_max_age_days=age)


_DASK_ADDRESS = re.compile(r"^(?:(?:tcp|tls|ucx|inproc)://)?[^\s/:]+(?::\d+)?$")


def _parse_runner(r: _Reader) -> RunnerSettings:
    r.check_keys({"kind", "workers", "dask_address"})
    kind = r.get("kind", str, RunnerSettings.kind)
    if kind not in RUNNER_KINDS:
        raise r.fail("kind", f"{kind!r} is not one of {', '.join(RUNNER_KINDS)}")
    workers = r.get("workers", int, RunnerSettings.workers)
    if workers < 0:
        raise r.fail("workers", f"must be >= 0 (0 = one per CPU), got {workers}")
    address = r.get("dask_address", str, "").strip()
    if address and kind != "dask":
        raise r.fail("dask_address", f"is only used with kind = \"dask\" (kind is {kind!r})")
    if address and not _DASK_ADDRESS.match(address):
        raise r.fail("dask_address", f"expected a scheduler address such as "
                                     f"'tcp://10.0.0.5:8786', got {address!r}")
    return RunnerSettings(kind=kind, workers=workers, dask_address=address)


_TOPIC_HEADER = re.compile(r"^[ \t]*\[[ \t]*topics[ \t]*\.[ \t]*([A-Za-z0-9_-]+)[ \t]*[\].]",
                           re.MULTILINE)


def _topic_check(path: Path) -> Callable[[str], bool]:
    """`is_topic(name)`: whether the rules file has a [topics.NAME] table. The file is read
    on the first call (only a subscriber listing topics asks); a file that cannot be read or
    parsed has every topic: `load_rules` says what is wrong where a command needs the rules,
    and commands that do not need them keep working. A `[topics.NAME...]` header line vouches
    for NAME at once; only a name without one costs a full parse (~8 ms for the shipped file)."""
    seen: dict[str, Any] = {}

    def is_topic(name: str) -> bool:
        if "text" not in seen:
            try:
                seen["text"] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                seen["text"] = None
            seen["headed"] = set(_TOPIC_HEADER.findall(seen["text"] or ""))
        if seen["text"] is None or name in seen["headed"]:
            return True
        if "names" not in seen:
            try:
                topics = tomllib.loads(seen["text"]).get("topics")
            except tomllib.TOMLDecodeError:
                topics = None
            seen["names"] = ({k for k, v in topics.items() if isinstance(v, dict)}
                             if isinstance(topics, dict) and topics else None)
        return seen["names"] is None or name in seen["names"]

    return is_topic


def _parse_schedule(r: _Reader) -> ScheduleSettings:
    r.check_keys({"ingest_interval_minutes", "ingest_cron", "digest_cron", "timezone"})
    sd = ScheduleSettings()
    cron = r.get("ingest_cron", str)
    interval = r.get("ingest_interval_minutes", float)
    if cron is not None and interval is not None:
        raise r.fail("ingest_cron", "give ingest_cron or ingest_interval_minutes, not both")
    if interval is not None and interval <= 0:
        raise r.fail("ingest_interval_minutes", f"must be > 0, got {interval!r}")
    digest = r.get("digest_cron", str, sd.digest_cron)
    for key, value in (("ingest_cron", cron), ("digest_cron", digest)):
        problem = cron_problem(value) if value else None
        if problem:
            raise r.fail(key, problem)
    timezone = r.get("timezone", str, sd.timezone)
    problem = timezone_problem(timezone)
    if problem:
        raise r.fail("timezone", f"{problem}: {timezone!r}")
    return ScheduleSettings(
        ingest_interval_minutes=None if cron else (interval or sd.ingest_interval_minutes),
        ingest_cron=cron, digest_cron=digest or None, timezone=timezone)
