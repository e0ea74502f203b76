from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.settings import (
    DEFAULT_CONFIG,
    DEFAULT_TOPICS,
    ConfigError,
    load_settings,
    parse_settings,
)

MINIMAL = """
[[sources]]
key = "one"
name = "One"
feeds = ["https://example.org/rss"]
"""


def test_shipped_sources_lists_the_outlets_of_the_field() -> None:
    settings = load_settings(DEFAULT_CONFIG)
    keys = {s.key for s in settings.sources}
    assert {"asiaplus_en", "asiaplus_ru", "ozodi", "eurasianet", "fergana", "tass"} <= keys
    assert any(k.startswith("cabar") for k in keys)
    assert settings.source("ozodi").language == "tg"
    assert settings.fetch.allow_private_addresses is False
    assert settings.topics_path.exists()
    for source in settings.sources:
        assert all(f.startswith("https://") for f in source.feeds)


def test_minimal_file_gets_defaults(tmp_path: Path) -> None:
    s = parse_settings(MINIMAL, tmp_path / "s.toml")
    assert s.sources[0].feeds == ("https://example.org/rss",)
    assert s.fetch.timeout > 0 and s.dedup.threshold == 0.5
    assert s.dedup.window_days == 365


def test_a_zero_dedup_window_searches_everything(tmp_path: Path) -> None:
    s = parse_settings("[dedup]\nwindow_days = 0\n" + MINIMAL, tmp_path / "s.toml")
    assert s.dedup.window_days is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL + "colour = 'red'\n", r"s\.toml:6: sources\[0\]\.colour: unknown key"),
        ("[fetch]\ntimeout = -1\n" + MINIMAL, r"s\.toml:2: fetch\.timeout: must be > 0"),
        ("[fetch]\nallow_private_addresses = 'yes'\n" + MINIMAL,
         r"s\.toml:2: fetch\.allow_private_addresses: expected bool"),
        (MINIMAL.replace('"https://example.org/rss"', '"ftp://x/rss"'), r"not an http\(s\) URL"),
        (MINIMAL.replace('key = "one"', 'key = "Bad Key"'), r"sources\[0\]\.key: 'Bad Key'"),
        (MINIMAL + MINIMAL, r"sources\[1\]\.key: 'one' is used twice"),
        ("[dedup]\nthreshold = 2.0\n" + MINIMAL, r"dedup\.threshold: must be between"),
        ("[dedup]\nwindow_days = -1\n" + MINIMAL, r"dedup\.window_days: must be 0 \(no window\)"),
        ("[digest]\nrecipients = ['not-an-address']\n" + MINIMAL, r"not an email address"),
        ("[surprise]\n" + MINIMAL, r"surprise: unknown key"),
        ("", r"at least one \[\[sources\]\]"),
        ("[[sources]\n", r"invalid TOML"),
        (MINIMAL.replace('name = "One"\n', ""), r"sources\[0\]\.name: is required"),
        (MINIMAL + 'language = "fr"\n', r"sources\[0\]\.language: 'fr' is not one of"),
        ('[schedule]\ntimezone = ""\n' + MINIMAL, r"s\.toml:2: schedule\.timezone: not an IANA"),
        ('[fetch]\nuser_agent = "migwatch/1 (дежурный)"\n' + MINIMAL,
         r"s\.toml:2: fetch\.user_agent: must be printable ASCII"),
        ("[digest]\nrecipients = ['дежурный@example.org']\n" + MINIMAL,
         r"s\.toml:2: digest\.recipients: cannot deliver to"),
    ],
)
def test_bad_configuration_names_file_key_and_line(tmp_path: Path, text: str, message: str
                                                   ) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(text, tmp_path / "s.toml")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_settings(tmp_path / "nope.toml")


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "rules.toml").write_text("[topics.one]\nterms = { en = ['one'] }\n", "utf-8")
    text = '[digest]\noutbox = "mail"\n[topics]\nrules = "rules.toml"\n' + MINIMAL
    s = parse_settings(text, tmp_path / "s.toml")
    assert s.digest.outbox == tmp_path / "mail"
    assert s.topics_path == tmp_path / "rules.toml"


def test_an_address_written_twice_in_different_case_is_one_channel(tmp_path: Path) -> None:
    """Both spellings share one delivery-log key; kept as two channels, the second claimed the
    first's items again and the digest run stopped on the log's primary key."""
    s = parse_settings(MINIMAL + '[[subscribers]]\nname = "ops"\n'
                       'email = ["Ops@Example.org", "ops@example.org", "other@example.org"]\n'
                       'chat = ["json://127.0.0.1:9/a", "json://127.0.0.1:9/a"]\n',
                       tmp_path / "s.toml")
    (ops,) = s.subscribers
    assert [c.target for c in ops.channels] == ["Ops@Example.org", "other@example.org",
                                                "json://127.0.0.1:9/a"]


SUBSCRIBER = '[[subscribers]]\nname = "desk"\nemail = "desk@example.org"\n'


def _feed(url: str) -> str:
    return MINIMAL.replace("https://example.org/rss", url)


# (text, line, key, message): each passed the checks once and failed later, at run time or
# when `migwatch serve` built its Prefect schedules (after starting a server, with a traceback).
LATE_FAILURES = [
    ('[schedule]\ndigest_cron = "61 * * * *"\n' + MINIMAL, 2, "schedule.digest_cron",
     r"not a valid cron expression: '61 \* \* \* \*' \(.*out of range"),
    ('[schedule]\ningest_cron = "*/0 * * * *"\n' + MINIMAL, 2, "schedule.ingest_cron",
     r"not a valid cron expression: '\*/0"),
    ('[schedule]\ndigest_cron = "0 6 * * 1-9"\n' + MINIMAL, 2, "schedule.digest_cron",
     "not a valid cron expression"),
    ('[schedule]\ndigest_cron = "R 6 * * *"\n' + MINIMAL, 2, "schedule.digest_cron",
     r"random \(R\) and hashed \(H\)"),
    ('[schedule]\ntimezone = "Mars/Base"\n' + MINIMAL, 2, "schedule.timezone",
     "not an IANA timezone .*'Mars/Base'"),
    ('[schedule]\ntimezone = "posix/UTC"\n' + MINIMAL, 2, "schedule.timezone",
     "not an IANA timezone Prefect accepts"),
    (MINIMAL + SUBSCRIBER + 'topics = ["remittances", "nope_topic"]\n', 9,
     "subscribers[0].topics", f"'nope_topic' is not a topic of {DEFAULT_TOPICS}"),
    (_feed("http://127.0.0.1:99999/rss"), 5, "sources[0].feeds", "Port out of range"),
    (_feed("http://example.org:0/rss"), 5, "sources[0].feeds", "port 0"),
    (_feed("http://example.org:8o/rss"), 5, "sources[0].feeds", "not a valid URL"),
    (_feed("http://exa mple.org/rss"), 5, "sources[0].feeds", "whitespace or a control"),
    (_feed("http://example.org/a\\tb"), 5, "sources[0].feeds", "whitespace or a control"),
    (_feed("http://:80/rss"), 5, "sources[0].feeds", "no host"),
    (_feed("http://user@/rss"), 5, "sources[0].feeds", "no host"),
    (_feed("http://exa<mple.org/rss"), 5, "sources[0].feeds", "malformed host 'exa<mple.org'"),
    (_feed("http://exa..mple.org/rss"), 5, "sources[0].feeds", "malformed host"),
    (_feed("http://999.1.1.1/rss"), 5, "sources[0].feeds", "not an IPv4 address"),
    (_feed("http://[::1/rss"), 5, "sources[0].feeds", "not a valid URL"),
    (MINIMAL + 'sitemaps = ["https://example.org:70000/sitemap.xml"]\n', 6,
     "sources[0].sitemaps", "Port out of range"),
    (MINIMAL + 'listings = ["https://exa mple.org/news"]\nlink_pattern = "/news/"\n', 6,
     "sources[0].listings", "whitespace"),
    (MINIMAL + 'homepage = "https://example.org:123456/"\n', 6, "sources[0].homepage",
     "Port out of range"),
    ('[fetch]\nallowed_private_hosts = ["127.0.0.1:99999"]\n' + MINIMAL, 2,
     "fetch.allowed_private_hosts", "port 1-65535"),
]


@pytest.mark.parametrize(("text", "line", "key", "message"), LATE_FAILURES,
                         ids=[f"{key}-{i}" for i, (_t, _l, key, _m) in enumerate(LATE_FAILURES)])
def test_values_that_used_to_fail_late_fail_at_load_naming_file_line_and_key(
        tmp_path: Path, text: str, line: int, key: str, message: str) -> None:
    path = tmp_path / "s.toml"
    with pytest.raises(ConfigError, match=message) as err:
        parse_settings(text, path)
    assert str(err.value).startswith(f"{path}:{line}: {key}: "), str(err.value)


def test_a_missing_rules_file_names_the_sources_file_key_and_resolved_path(tmp_path: Path
                                                                           ) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "s.toml"
    for rules, what in (("../missing.toml", "does not exist"), (".", "is a directory")):
        with pytest.raises(ConfigError) as err:
            parse_settings(f'[topics]\nrules = "{rules}"\n' + MINIMAL, path)
        resolved = (path.parent / rules).resolve()
        assert str(err.value) == (f"{path}:2: topics.rules: cannot read topic rules: "
                                  f"{resolved} {what}")


def test_subscriber_topics_are_those_of_the_configured_rules_file(tmp_path: Path) -> None:
    (tmp_path / "rules.toml").write_text(
        "[defaults]\nmin_score = 2\n[topics]\nquotas = { terms = { en = ['quota*'] } }\n"
        "[topics.floods]\nterms = { en = ['flood*'] }\n# [topics.ghost]\n"
        "[ topics . visas.terms ]\nen = ['visa*']\n", "utf-8")
    head = '[topics]\nrules = "rules.toml"\n' + MINIMAL + SUBSCRIBER
    s = parse_settings(head + 'topics = ["visas", "floods", "quotas"]\n', tmp_path / "s.toml")
    assert s.subscribers[0].topics == ("visas", "floods", "quotas")
    for name in ("remittances", "ghost", "terms"):
        with pytest.raises(ConfigError, match=rf"s\.toml:11: subscribers\[0\]\.topics: "
                                              rf"'{name}' is not a topic of .*rules\.toml"):
            parse_settings(head + f'topics = ["floods", "{name}"]\n', tmp_path / "s.toml")


def test_an_unreadable_rules_file_leaves_subscriber_topics_to_the_commands_that_read_it(
        tmp_path: Path) -> None:
    """A rules file that is not valid TOML is reported by load_rules when a command needs the
    rules (with its own line); commands that do not, such as `status --alert`, keep working."""
    (tmp_path / "rules.toml").write_text("[topics.floods\n", "utf-8")
    text = '[topics]\nrules = "rules.toml"\n' + MINIMAL + SUBSCRIBER + 'topics = ["any"]\n'
    assert parse_settings(text, tmp_path / "s.toml").subscribers[0].topics == ("any",)


GOOD_URLS = ["https://example.org:8443/rss", "http://127.0.0.1:8765/rss", "http://[::1]:80/a",
             "https://user:pw@example.org/x", "https://пример.рф/rss", "https://a_b.example/",
             "https://example.org./rss", "https://example.org/a%20b?q=1#frag"]


@pytest.mark.parametrize("url", GOOD_URLS)
def test_good_urls_still_pass(tmp_path: Path, url: str) -> None:
    assert parse_settings(_feed(url), tmp_path / "s.toml").sources[0].feeds == (url,)


CRONS = ["0 6 * * *", "*/15 * * * *", "0 6 * * MON-FRI", "0 6 1 1 *", "5,35 8-18 * * 1-5",
         "0 0 L * *", "0 0 29 2 *", " 0 6 * * * ", "61 * * * *", "*/0 * * * *", "0 24 * * *",
         "0 6 32 * *", "0 6 * 13 *", "0 6 * * 8", "1-70 * * * *", "R * * * *", "H * * * *",
         "0 6 * * mon#6", "a b c d e"]
ZONES = ["UTC", "Asia/Dushanbe", "Europe/Moscow", "Etc/GMT-5", "Mars/Base", "utc", "posix/UTC",
         "right/UTC", "posixrules", "Asia"]


def test_schedules_pass_exactly_when_prefect_accepts_them() -> None:
    """What the settings accept is what `migwatch serve` can build: Prefect's own Cron."""
    from prefect.schedules import Cron

    def prefect_accepts(cron: str, tz: str) -> bool:
        try:
            Cron(cron, timezone=tz)
            from prefect.client.schemas.schedules import CronSchedule
            CronSchedule(cron=cron, timezone=tz)   # what to_deployment turns it into
        except ValueError:   # pydantic's ValidationError is one
            return False
        return True

    for cron in CRONS:
        text = f'[schedule]\ndigest_cron = "{cron}"\n' + MINIMAL
        assert _loads(text) == prefect_accepts(cron, "UTC"), cron
    for tz in ZONES:
        text = f'[schedule]\ntimezone = "{tz}"\n' + MINIMAL
        assert _loads(text) == prefect_accepts("0 6 * * *", tz), tz


def test_plain_crons_accepted_without_croniter_are_valid_for_it() -> None:
    """The shortcut that spares loading croniter for "0 6 * * *" accepts nothing it refuses."""
    from prefect._vendor.croniter import croniter

    from flows.schedule_check import _plainly_valid

    for i in range(5):
        for value in [*map(str, range(100)), "00", "07", "*"]:
            expr = " ".join(value if j == i else "*" for j in range(5))
            if _plainly_valid(expr):
                assert croniter.is_valid(expr), expr


def _loads(text: str) -> bool:
    try:
        parse_settings(text, Path("s.toml"))
    except ConfigError:
        return False
    return True


def test_checking_a_schedule_does_not_import_prefect(tmp_path: Path) -> None:
    """Every command loads the settings first; importing prefect costs 1.5 s or more."""
    path = tmp_path / "s.toml"
    path.write_text('[schedule]\ningest_cron = "*/15 6-22 * * MON-FRI"\n'
                    'timezone = "Asia/Dushanbe"\n' + MINIMAL, "utf-8")
    code = ("import sys\nfrom flows.settings import load_settings\n"
            f"load_settings({str(path)!r})\n"
            "assert not [m for m in sys.modules if m.split('.')[0] == 'prefect'], 'prefect'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
