#!/usr/bin/env python3
"""The pipeline a team would script instead of custos (自研轻量级脚本), for the side-by-side bench.

It is written the way such a script usually is:
- `json` to read each line;
- the `maxminddb` module (its C extension when installed) to look up the IP;
- the three original detectors' logic in dicts: off-hours login in the user's zone, bulk export
  (one export of >= 5000 rows, or >= 1000 rows within 24 h), activity after a termination;
- batched HTTP `INSERT … FORMAT JSONEachRow` of events and alerts into ClickHouse.

It keeps no dead letters, no exactly-once positions and no replay safety. It is a floor for what
custos must beat, not a peer.

Usage: python_pipeline.py CLICKHOUSE_URL DATABASE EVENTS.jsonl DIRECTORY.jsonl CITY.mmdb [CITY-v6.mmdb]
"""

import json
import sys
import urllib.parse
import urllib.request
from collections import defaultdict, deque
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import maxminddb

BATCH = 50_000
WINDOW = timedelta(hours=24)


def http(url, sql, body=None):
    q = urllib.parse.quote(sql)
    req = urllib.request.Request(f"{url}/?query={q}", data=body or b"", method="POST")
    with urllib.request.urlopen(req, timeout=300) as r:
        return r.read()


def parse_ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc)


def main():
    url, db, events_path, directory_path, *dbs = sys.argv[1:]
    http(url, f"CREATE DATABASE IF NOT EXISTS {db}")
    http(url, f"CREATE TABLE IF NOT EXISTS {db}.events (event_id String, ts DateTime('UTC'), "
              "user_id String, action String, tenant String, object_type String, record_count UInt64, "
              "ip String, user_agent String, country_iso String, city String, asn UInt32) "
              "ENGINE = ReplacingMergeTree() PARTITION BY toYYYYMM(ts) ORDER BY (tenant, user_id, ts, event_id)")
    http(url, f"CREATE TABLE IF NOT EXISTS {db}.alerts (alert_id String, detector String, user_id String, "
              "ts DateTime('UTC'), summary String) ENGINE = ReplacingMergeTree() ORDER BY (detector, user_id, alert_id)")

    readers = [maxminddb.open_database(p) for p in dbs]

    def geo(ip):
        for r in readers:
            try:
                rec = r.get(ip)
            except ValueError:
                return None
            if rec:
                return rec
        return None

    # The directory: the latest version of each user (work hours, zone, status).
    users = {}
    with open(directory_path) as f:
        for line in f:
            d = json.loads(line)
            users[d["user_id"]] = d

    exports = defaultdict(deque)  # user -> (ts, rows) within the window
    alerted = set()
    rows, alerts = [], []
    stored = 0

    def flush():
        nonlocal rows, alerts, stored
        if rows:
            http(url, f"INSERT INTO {db}.events FORMAT JSONEachRow", "\n".join(rows).encode())
            stored += len(rows)
        if alerts:
            http(url, f"INSERT INTO {db}.alerts FORMAT JSONEachRow", "\n".join(alerts).encode())
        rows, alerts = [], []

    def alert(detector, user, ts, summary):
        key = (detector, user, ts.date())
        if key in alerted:
            return
        alerted.add(key)
        alerts.append(json.dumps({"alert_id": f"{detector}:{user}:{ts.isoformat()}", "detector": detector,
                                  "user_id": user, "ts": ts.strftime("%Y-%m-%d %H:%M:%S"), "summary": summary}))

    with open(events_path) as f:
        for line in f:
            try:
                e = json.loads(line)
                ts = parse_ts(e["ts"])
                user, action = e["user_id"], e["action"]
            except (ValueError, KeyError):
                continue
            count = int(e.get("record_count", 0) or 0)
            g = geo(e.get("ip", "")) or {}
            # Both layouts: MaxMind's nested records and the flat ones (ip-location-db).
            if isinstance(g.get("city"), dict):
                country = g.get("country", {}).get("iso_code", "")
                city = g["city"].get("names", {}).get("en", "")
            else:
                country, city = g.get("country_code", ""), g.get("city", "")
            d = users.get(user)
            # Off-hours login, in the user's zone.
            if action == "login" and d:
                tz = ZoneInfo(d.get("timezone", "UTC"))
                local = ts.astimezone(tz)
                start, end = d.get("work_hours", "09:00-18:00").split("-")
                minute = local.hour * 60 + local.minute
                s = int(start[:2]) * 60 + int(start[3:])
                t = int(end[:2]) * 60 + int(end[3:])
                inside = s <= minute < t if s < t else (minute >= s or minute < t)
                if not inside:
                    alert("off_hours_login", user, ts, f"login at {local:%H:%M} local")
            # Bulk export: one big export, or the window's sum.
            if action == "export":
                q = exports[user]
                q.append((ts, count))
                while q and q[0][0] < ts - WINDOW:
                    q.popleft()
                if count >= 5000 or sum(c for _, c in q) >= 1000:
                    alert("bulk_export", user, ts, f"{sum(c for _, c in q)} rows exported")
            # Activity after a termination.
            if d and d.get("status") in ("terminated", "suspended") and ts >= parse_ts(d["effective_ts"]):
                alert("orphaned_account", user, ts, f"{action} by a {d['status']} account")
            rows.append(json.dumps({
                "event_id": e["event_id"], "ts": ts.strftime("%Y-%m-%d %H:%M:%S"), "user_id": user,
                "action": action, "tenant": e.get("tenant", "default"), "object_type": e.get("object_type", ""),
                "record_count": count, "ip": e.get("ip", ""), "user_agent": e.get("user_agent", ""),
                "country_iso": country, "city": city,
                "asn": int(g.get("autonomous_system_number", 0) or 0),
            }))
            if len(rows) >= BATCH:
                flush()
    flush()
    print(json.dumps({"stored": stored, "alerts": len(alerted)}))


if __name__ == "__main__":
    main()
