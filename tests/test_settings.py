from __future__ import annotations

from pathlib import Path

import pytest

from flows.settings import DEFAULT_CONFIG, ConfigError, load_settings, parse_settings

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
