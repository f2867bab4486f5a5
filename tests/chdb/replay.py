#!/usr/bin/env python3
"""Replays every query custos issued during the test suite on a current ClickHouse (chDB).

The suite runs against Debian's ClickHouse 18.16 with `log_queries = 1`; custos' own client names itself
`custos/<version>` in the User-Agent, so `system.query_log` holds exactly the statements custos sent, with
their bound values already substituted. This script:

1. applies every migration in schemas/clickhouse/ (as `custos migrate` splits them) to a chDB database;
2. compares each table's columns and types with those 18.16 created for the suite (RowBinary inserts are
   encoded from the Rust row types, so equal column types mean the same bytes are accepted);
3. runs each distinct query shape the suite issued (up to three bound variants each) on chDB; a RowBinary
   insert, or a VALUES one (18.16 logs the statement without its rows), is checked as `SELECT <its columns> LIMIT 0`;
4. exits non-zero, listing each failing statement and chDB's error, if anything failed.

Usage: tests/chdb/replay.py CLICKHOUSE_HTTP_URL   (the 18.16 server the suite used)
"""

import glob
import os
import re
import sys
import tempfile
import urllib.parse
import urllib.request

import chdb
from chdb import session as chs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DB = "custos_chdb"
MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
    "applied_at DateTime('UTC')) ENGINE = ReplacingMergeTree() ORDER BY version"
)


def http(url, sql):
    req = urllib.request.Request(url, data=sql.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read().decode()


def statements(text):
    """The same split as `store::migrate::statements`."""
    body = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def shape(sql):
    """The query with literals replaced, so bound variants of one statement collapse."""
    s = re.sub(r"'(?:[^'\\]|\\.)*'", "?", sql)
    s = re.sub(r"\b\d+(?:\.\d+)?\b", "?", s)
    s = re.sub(r"\[(?:\?\s*,\s*)*\?\]", "[?]", s)
    s = re.sub(r"\((?:\?\s*,\s*)*\?\)", "(?)", s)
    return re.sub(r"\s+", " ", s).strip()


INSERT_ALL = re.compile(r"^\s*INSERT\s+INTO\s+`?(\w+)`?\s+FORMAT\s+\w+\s*$", re.I | re.S)
INSERT_COLS = re.compile(
    r"^\s*INSERT\s+INTO\s+`?(\w+)`?\s*\(([^)]*)\)\s*(?:FORMAT\s+\w+|VALUES)\s*$", re.I | re.S
)
SKIP = re.compile(
    r"^\s*(CREATE\s+DATABASE|DROP\s+DATABASE|SYSTEM\s+FLUSH\s+LOGS|EXISTS\s+DATABASE)", re.I
)


def columns(query):
    rows = query(
        f"SELECT table, name, type FROM system.columns WHERE database = '{{db}}' "
        "AND table NOT LIKE '.inner%' ORDER BY table, name FORMAT TSV"
    )
    return {tuple(line.split("\t")) for line in rows.splitlines() if line}


def main():
    url = sys.argv[1].rstrip("/") + "/"
    migration_sql = set()
    sess = chs.Session(tempfile.mkdtemp(prefix="custos-chdb-"))

    def run(sql):
        return sess.query(sql, "TSV").bytes().decode()

    run(f"CREATE DATABASE IF NOT EXISTS {DB}")
    run(f"USE {DB}")
    run(MIGRATIONS_TABLE)
    migration_sql.add(MIGRATIONS_TABLE)
    failures = []
    files = sorted(glob.glob(os.path.join(ROOT, "schemas/clickhouse/*.sql")))
    for path in files:
        for stmt in statements(open(path, encoding="utf-8").read()):
            migration_sql.add(stmt)
            try:
                run(stmt)
            except Exception as e:  # chDB raises its own error type with ClickHouse's message
                failures.append((os.path.basename(path), stmt, str(e)))
    version = run("SELECT version()").strip()
    print(f"chdb replay: {len(files)} migrations applied on ClickHouse {version}")

    http(url, "SYSTEM FLUSH LOGS")
    # A database the suite migrated fully on 18.16 (it has every migration's last column).
    dbs = http(
        url,
        "SELECT database FROM system.columns WHERE table = 'api_audit' AND name = 'query_decoded' "
        "AND database NOT IN ('system') ORDER BY database LIMIT 1 FORMAT TSV",
    ).split()
    if not dbs:
        sys.exit("chdb replay: no migrated custos database on the suite's ClickHouse")
    old = columns(lambda q: http(url, q.replace("{db}", dbs[0])))
    new = columns(lambda q: run(q.replace("{db}", DB)))
    for table, name, typ in sorted(old ^ new):
        side = "18.16" if (table, name, typ) in old else "chDB"
        failures.append(("schema", f"{table}.{name}", f"{typ} only on {side}"))
    print(f"chdb replay: {len(new)} columns compared with 18.16's")

    logged = http(
        url,
        "SELECT query FROM system.query_log WHERE type = 1 AND http_user_agent LIKE 'custos/%' "
        "ORDER BY event_time FORMAT JSONEachRow",
    )
    import json

    seen = {}
    for line in logged.splitlines():
        q = json.loads(line)["query"].strip().rstrip(";").strip()
        if not q or SKIP.match(q) or q in migration_sql:
            continue
        variants = seen.setdefault(shape(q), [])
        if len(variants) < 3 and q not in variants:
            variants.append(q)
    if not seen:
        sys.exit("chdb replay: the query log holds no custos query (is log_queries on?)")
    ran = 0
    for variants in seen.values():
        for q in variants:
            m = INSERT_COLS.match(q)
            whole = INSERT_ALL.match(q)
            if m:
                sql = f"SELECT {m.group(2)} FROM {m.group(1)} LIMIT 0"
            elif whole:  # every column, e.g. an archive restored (JSONEachRow)
                sql = f"SELECT * FROM {whole.group(1)} LIMIT 0"
            else:
                sql = q
            # Schema checks name the suite's database; here it is DB.
            sql = re.sub(r"\bdatabase\s*=\s*'[^']*'", f"database = '{DB}'", sql)
            sql = re.sub(r"`[^`]+`\.(`\w+`)", r"\1", sql)  # `suite_db`.`table` → table
            try:
                run(sql)
                ran += 1
            except Exception as e:
                failures.append(("query", q[:2000], str(e).strip()[:1000]))
    print(f"chdb replay: {ran} statements of {len(seen)} distinct shapes ran on chDB")
    if failures:
        for where, what, err in failures:
            print(f"FAILED [{where}] {what}\n    {err}", file=sys.stderr)
        sys.exit(f"chdb replay: {len(failures)} failures on ClickHouse {version}")


if __name__ == "__main__":
    main()
