"""`migwatch` command line. Exit status: 0 ok; 1 unexpected error; 2 bad usage or
configuration; 3 the run finished but some outlets or recipients failed; 4 every outlet failed.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

from flows.settings import ConfigError, default_db_path, load_settings
from flows.stages.topics import RulesError, load_rules

EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL = 1, 2, 3


def _db(args: argparse.Namespace) -> Path:
    return Path(args.db) if args.db else default_db_path()


def _writable_db(args: argparse.Namespace) -> Path | None:
    """The warehouse of a command that creates or writes it (run, serve), or None after
    saying why it cannot be: before Prefect starts, not as a failed flow's traceback."""
    path = _db(args)
    why = None
    if path.is_dir():
        why = "is a directory"
    else:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = f"cannot create its folder: {exc.strerror}"
        else:
            target = path if path.exists() else path.parent
            if not os.access(target, os.W_OK | (os.R_OK if target is path else os.X_OK)):
                why = f"{'it' if target is path else 'its folder'} is not writable"
    if why:
        print(f"error: warehouse {path}: {why}", file=sys.stderr)
        return None
    return path


def _stored_db(args: argparse.Namespace) -> Path:
    """The warehouse of a command that only works on what ingest stored (digest, retag): a
    mistyped --db must not quietly create an empty warehouse and report "nothing new"."""
    path = _db(args)
    if not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: check --db, or run `migwatch run` "
                                "(or `migwatch demo`) first")
    return path


def _print_ingest(report: object) -> None:
    from flows.ingest import IngestReport

    assert isinstance(report, IngestReport)
    print(f"\nIngest run {report.run_id}: {report.status}")
    print(f"{'outlet':<16} {'status':<7} {'new':>4} {'dups':>5} {'pages':>6} {'failed':>7}  error")
    for s in report.sources:
        err = (s.error or "")[:110]
        print(f"{s.source:<16} {'ok' if s.ok else 'FAILED':<7} {s.new_articles:>4} "
              f"{s.duplicates:>5} {s.pages_fetched:>6} {s.pages_failed:>7}  {err}")
    failed = [s for s in report.sources if not s.ok]
    print(f"{report.new_articles} new articles from {len(report.sources) - len(failed)} of "
          f"{len(report.sources)} outlets; warehouse: {report.db_path}")


def cmd_run(args: argparse.Namespace) -> int:
    from flows.prefect_api import EarlyAPI

    load_rules(load_settings(args.config).topics_path)  # fail fast, before Prefect starts
    if (db := _writable_db(args)) is None:
        return EXIT_USAGE
    api = EarlyAPI(db)   # boots on another core while the pipeline is imported
    from flows.ingest import ingest_flow

    with api.serving():
        report = ingest_flow(config_path=args.config, db_path=str(db))
    _print_ingest(report)
    return report.exit_code


def _print_digest(results: list) -> int:
    code = 0
    for r in results:
        who = f"digest for {r.subscriber} ({r.channel})"
        if r.error:
            code = EXIT_PARTIAL
            print(f"{who}: NOT delivered ({r.error}); retried next run")
        elif r.not_due:
            print(f"{who}: not due yet")
        elif r.n_items:
            verb = "previewed in" if r.transport == "preview" else "->"
            print(f"{who}: {r.n_items} articles {verb} {r.location}")
        else:
            print(f"{who}: nothing new")
    return code


def cmd_digest(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.dry_run:
        from alerts.mailer import smtp_from_env
        from flows.digest import run_digests

        out = Path(args.out) if args.out else settings.digest.outbox.parent / "preview"
        results = run_digests(_stored_db(args), settings, smtp_from_env(),
                              only=args.subscriber, preview=out)
        print(f"preview only: nothing sent or recorded; files in {out}")
        return _print_digest(results)
    if args.subscriber:
        print("--subscriber goes with --dry-run", file=sys.stderr)
        return EXIT_USAGE
    db = _stored_db(args)
    from alerts.mailer import smtp_from_env

    smtp_from_env()   # bad MIGWATCH_SMTP_* settings: exit 2 now, not a failed flow run
    from flows.prefect_api import EarlyAPI

    api = EarlyAPI(db)
    from flows.digest import digest_flow

    with api.serving():
        results = digest_flow(config_path=args.config, db_path=str(db))
    return _print_digest(results)


# What `migwatch sql` runs. A read-only connection alone is not enough: ATTACH, USE and
# DETACH can reopen the same file read-write, and COPY or EXPORT write files.
READ_STATEMENTS = frozenset({"SELECT", "EXPLAIN", "PRAGMA"})


def _caught_up(db: Path) -> bool:
    """The phrase-search index brought up to date for a command about to search it, saying
    so when that took a while (its first build reads every stored text); False after saying
    why it cannot be."""
    import sqlite3

    import duckdb

    from warehouse import search

    def progress(read: int) -> None:
        if read % 50_000 == 0:
            print(f"search index: {read} articles read so far", file=sys.stderr)

    try:
        done = search.catch_up(db, progress=progress)
    except (search.SearchUnavailable, duckdb.Error, sqlite3.Error) as exc:
        print(f"error: the search index cannot be brought up to date: {exc}", file=sys.stderr)
        return False
    if done.behind:
        print(f"search index: {done.behind} article(s) stored since it was last brought up "
              f"to date are not searched: you may not write {search.index_path(db)} (the next "
              "ingest run adds them)", file=sys.stderr)
    if done.rebuilt or done.seconds >= 2:
        print(f"search index: {done.read} articles added in {done.seconds:.1f} s"
              + (" (rebuilt: the warehouse no longer matched it)" if done.rebuilt else "")
              + f", {done.documents} in all", file=sys.stderr)
    return True


def _phrase_ids(db: Path) -> Callable[[str], list[int]]:
    """`phrase_ids('…')` for `migwatch sql`: the ids of the articles matching a phrase, from
    the index (caught up before the query ran)."""
    from warehouse import search

    def phrase_ids(phrase: str) -> list[int]:
        return search.matching_ids([phrase], db)
    return phrase_ids


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from warehouse.db import connect

    wants_search = "phrase_ids" in args.query.lower()
    if wants_search and _db(args).exists() and not _caught_up(_db(args)):
        return EXIT_USAGE
    try:
        con = connect(_db(args), read_only=True, retry_seconds=30)
    except duckdb.Error as exc:
        print(f"error: cannot open {_db(args)} as a warehouse: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if wants_search:
            con.create_function("phrase_ids", _phrase_ids(_db(args)), ["VARCHAR"], "BIGINT[]",
                                side_effects=False)
        refused = sorted({s.type.name for s in con.extract_statements(args.query)}
                         - READ_STATEMENTS)
        if refused:
            print(f"error: `migwatch sql` is read-only: {', '.join(refused)} statements are "
                  "refused (SELECT, EXPLAIN, PRAGMA, SHOW and DESCRIBE are allowed)",
                  file=sys.stderr)
            return EXIT_USAGE
        rel = con.sql(args.query)
        if rel is None:
            print("(statement executed)")
        else:
            rel.show(max_width=10_000, max_rows=args.max_rows)
    except duckdb.Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        con.close()
    return 0


def _date(text: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_search(args: argparse.Namespace) -> int:
    import duckdb

    from warehouse import search
    from warehouse.db import opened

    db = _stored_db(args)
    try:
        search.fts_query(args.phrases)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not _caught_up(db):
        return EXIT_USAGE
    ids = search.matching_ids(args.phrases, db)
    try:
        with opened(db, read_only=True, retry_seconds=30) as con:
            shown = search.matched_articles(con, ids, since=args.since, source=args.source,
                                            lang=args.lang, seeds=args.seeds,
                                            limit=args.limit, stories=args.stories)
            texts = search.texts_of(con, [row[0] for row in shown])
    except duckdb.Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for doc_id, published, source, lang, title, url, *story in shown:
        print(f"{str(published)[:16] if published else 'undated':<16}  {source} ({lang})  "
              f"{title or '(no title)'}")
        print(f"    {url}")
        around = search.passage(texts.get(doc_id, ""), args.phrases)
        if around:
            print(f"    {around}")
        if story and story[1]:
            print(f"    also: {', '.join(story[1])}")
        print()
    what = (f"{len(shown)} stories ({sum(row[6] for row in shown)} of their articles)"
            if args.stories else str(len(shown)))
    print(f"{len(ids)} stored documents match (seeds included); {what} shown after the "
          f"filters and --limit", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import duckdb

    from flows.activity import render_quiet
    from flows.status import render_alert_state, render_status

    settings = load_settings(args.config) if args.alert else None   # fail fast on bad config
    try:
        text, code = render_status(_db(args))
    except duckdb.Error as exc:
        print(f"error: cannot read {_db(args)} as a warehouse: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(text)
    print("\n" + render_quiet(_db(args)))
    if settings is None:
        print("\n" + render_alert_state(_db(args)))
        return code
    from alerts.mailer import smtp_from_env
    from flows.oncall import run_operator_alerts

    report = run_operator_alerts(_db(args), settings, smtp_from_env())
    print("\n" + "\n".join(report.lines()))
    return EXIT_PARTIAL if any(r.error for r in report.results) else code


def cmd_retag(args: argparse.Namespace) -> int:
    from flows.retag import retag

    settings = load_settings(args.config)
    # --language: the outlets' hints, as ingest passes them (an outlet not in the file: none)
    hints = {s.key: s.language for s in settings.sources} if args.language else None
    report = retag(_stored_db(args), settings.topics_path, hints)
    if report.language is not None:
        print(report.language.line())
    print(f"{'topic':<22} {'before':>7} {'after':>7} {'added':>6} {'removed':>8}")
    for c in report.topics:
        print(f"{c.topic:<22} {c.before:>7} {c.after:>7} {c.added:>6} {c.removed:>8}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from flows.demo import run_demo

    return run_demo(db=_db(args), port=args.port, keep_serving=args.keep_serving)


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.serve import serve

    settings = load_settings(args.config)
    load_rules(settings.topics_path)  # fail fast, before Prefect starts
    if (db := _writable_db(args)) is None:
        return EXIT_USAGE
    return serve(settings, db)


def cmd_export(args: argparse.Namespace) -> int:
    from warehouse.export import export_parquet

    for e in export_parquet(_db(args), Path(args.parquet)):
        print(f"{e.view:<15} {e.rows:>8} rows -> {e.path}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from warehouse.export import backup

    try:
        tables = backup(_db(args), Path(args.path))
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"backup of {_db(args)}: {tables} tables -> {args.path}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from warehouse.db import migrate, opened

    with opened(_db(args), migrate_schema=False) as con:
        applied = migrate(con)
    print(f"{_db(args)}: " + (f"applied {', '.join(applied)}" if applied else
                               "schema up to date") + "; views re-created")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from flows.serve import health

    text, code = health(_db(args))
    print(text)
    return code


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="migwatch", description="News monitor for Tajik-Russian labour migration.",
        epilog="Exit status: 0 ok, 1 unexpected error, 2 bad usage or configuration, "
               "3 finished but some outlets/recipients failed, 4 every outlet failed.")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, help: str, config: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        if config:
            sp.add_argument("--config", metavar="PATH",
                            help="sources file (default: $MIGWATCH_CONFIG or ./sources.toml "
                                 "of the project)")
        sp.add_argument("--db", metavar="PATH",
                        help=f"warehouse file (default: $MIGWATCH_DB or {default_db_path()})")
        return sp

    add("run", "Read every outlet, store new articles, tag and deduplicate them."
        ).set_defaults(func=cmd_run)
    sp = add("digest", "Send each subscriber what is new since their last digest.")
    sp.add_argument("--dry-run", action="store_true",
                    help="write the digests as .eml/.html/.md files instead of sending them")
    sp.add_argument("--subscriber", metavar="NAME", help="only this subscriber (with --dry-run)")
    sp.add_argument("--out", metavar="DIR", help="preview folder (default: var/preview)")
    sp.set_defaults(func=cmd_digest)
    sp = add("sql", "Run a read-only SQL query on the warehouse and print a table.", False)
    sp.add_argument("query", help='e.g. "select lang, count(*) from articles group by 1"')
    sp.add_argument("--max-rows", type=int, default=200)
    sp.set_defaults(func=cmd_sql)
    sp = add("search", "Articles whose title or text contains a phrase (whole words in "
             "order, any case), newest first, from an index beside the warehouse that this "
             "brings up to date first.", False)
    sp.add_argument("phrases", nargs="+", metavar="PHRASE",
                    help='e.g. "entry ban*" (several: any of them); a word ending in * is a '
                         "prefix: ban* matches ban, bans, banned")
    sp.add_argument("--since", metavar="DATE", type=_date,
                    help="published (else fetched) on or after, e.g. 2026-01-31")
    sp.add_argument("--source", metavar="KEY", help="only this outlet")
    sp.add_argument("--lang", metavar="CODE", help="only this language (en, ru, tg...)")
    sp.add_argument("--seeds", action="store_true", help="include the seed corpus")
    sp.add_argument("--stories", action="store_true",
                    help="one line per story: its copies and versions in other languages "
                         "folded into it")
    sp.add_argument("--limit", type=int, default=20,
                    help="articles (or stories) shown (default 20)")
    sp.set_defaults(func=cmd_search)
    sp = add("status", "Per-outlet health, outlets gone quiet, the last runs.")
    sp.add_argument("--alert", action="store_true",
                    help="also tell the [operator] channels of outlets newly failing, gone "
                         "quiet or recovered (each incident once)")
    sp.set_defaults(func=cmd_status)
    sp = add("retag", "Re-apply the topic rules to every stored article.")
    sp.add_argument("--language", action="store_true",
                    help="first detect every stored article's language again with the current "
                         "rule and store the labels that changed (articles stored by an older "
                         "release keep its rule's label until then)")
    sp.set_defaults(func=cmd_retag)
    add("serve", "Run ingest and digest on the [schedule] of the sources file as Prefect "
        "deployments, one run at a time, until SIGTERM.").set_defaults(func=cmd_serve)
    add("health", "Health check for a container: the warehouse is readable and the Prefect "
        "API answers (PREFECT_API_URL, else that of the serve running for the warehouse).",
        False).set_defaults(func=cmd_health)
    add("migrate", "Bring the warehouse's schema and views up to date with this migwatch "
        "(every writing command does it first; read-only ones try).", False).set_defaults(
        func=cmd_migrate)
    sp = add("export", "Write the analyst views as Parquet, partitioned by month where dated.",
             False)
    sp.add_argument("--parquet", metavar="DIR", required=True, help="output folder")
    sp.set_defaults(func=cmd_export)
    sp = add("backup", "Write a consistent copy of the warehouse to a new DuckDB file.", False)
    sp.add_argument("path", metavar="PATH", help="the new file (must not exist)")
    sp.set_defaults(func=cmd_backup)
    sp = add("demo", "Serve an offline replica of six outlets on 127.0.0.1, ingest it, and "
             "write a digest.", False)
    sp.add_argument("--port", type=int, default=8765, help="replica port (default 8765)")
    sp.add_argument("--keep-serving", action="store_true",
                    help="keep the replica running afterwards (Ctrl-C to stop)")
    sp.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """`argv` None: this process's own command line (the `migwatch` command), which ends
    when this returns."""
    args = parser().parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        status = int(args.func(args))
        sys.stdout.flush()   # here, where a reader gone is caught below, not at exit
        return status
    except (ConfigError, RulesError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, FileExistsError, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # `migwatch sql ... | head`: the reader left; not an error to show
        with suppress(OSError):   # nor at the interpreter's last flush of stdout
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141                # as a program killed by SIGPIPE
    except Exception as exc:
        db = sys.modules.get("warehouse.db")   # imported by every command that opens one
        if db is not None and isinstance(exc, db.OutdatedWarehouse):
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        raise
    finally:
        if argv is None:
            _about_to_exit()


def _about_to_exit() -> None:
    """Take everything allocated so far out of the cyclic garbage collector's sight: at exit
    the interpreter would walk it all once more, ~0.35 s once Prefect is imported (most of
    the exit of a run that finds nothing new). atexit hooks and finalizers still run (logs
    and events are flushed, the temporary API is stopped); only reference cycles still alive
    at exit go uncollected, and Python never promises to collect those."""
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
