#!/usr/bin/env python3
"""The task list's search and deep paging at 100k tasks of one user (issue 20, item 4):
numbers, not pass/fail.

Starts `todo-api serve` like bench/backend_load.py, gives its one user --tasks tasks straight
in SQL (titles `task <n> <md5>`, every 100th also "buy milk"; then ANALYZE), and times a few
list requests through the API, each --repeat times (median and max):

    q=zz&sort=title&offset=9900        a 2-letter search nothing matches, deep in the results
    q=zz&sort=title&offset=999900      the red team's request (since issue 20: 422 at once)
    q=milk&sort=title                  a word 1% of the tasks hold (trigram index territory)
    q=md5ish&sort=title                a 6-character fragment of one title's hash
    (no q), sort=-created_at           the default page

Before/after: run it once on this checkout and once on the old code, e.g.
    git archive <old-commit> apps/backend/src | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old/apps/backend/src python bench/task_search.py
(the server and its migrations then come from the old code: no trigram indexes, no
statement timeout, no offset cap). Loopback only; prints the machine's load beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import backend_load

HOST = backend_load.HOST


def _fill(db, tasks: int) -> None:
    with psycopg.connect(db.url) as conn:
        conn.execute(
            """
            INSERT INTO tasks (user_id, title, description, priority)
            SELECT (SELECT id FROM users WHERE email = 'bench@example.com'),
                   'task ' || n || ' ' || md5(n::text) || CASE WHEN n %% 100 = 0 THEN ' buy milk' ELSE '' END,
                   'benchmark description ' || md5((n * 7)::text),
                   (ARRAY['low', 'medium', 'high'])[1 + n %% 3]
            FROM generate_series(1, %s) AS n
            """,
            (tasks,),
        )
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE tasks")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    args.tasks = min(max(args.tasks, 1000), 1_000_000)
    args.repeat = min(max(args.repeat, 1), 50)
    fragment = hashlib.md5(str(args.tasks // 2).encode()).hexdigest()[8:14]  # noqa: S324 - test data
    queries = [
        "q=zz&sort=title&offset=9900",
        "q=zz&sort=title&offset=999900",
        "q=milk&sort=title",
        f"q={fragment}&sort=title",
        "sort=-created_at",
    ]
    databases: list = []
    with backend_load.serving(None, 0, database=databases) as (port, token, _):
        _fill(databases[0], args.tasks)
        print(f"todo-api serve, one user with {args.tasks} tasks, each request {args.repeat} times")
        print(backend_load.load_line())
        http = requests.Session()
        http.trust_env = False
        http.headers["Authorization"] = f"Bearer {token}"
        results = {}
        print(f"{'request':34} {'status':>6} {'median ms':>10} {'max ms':>8}  total")
        for query in queries:
            timings, status, total = [], None, None
            for _ in range(args.repeat):
                start = time.perf_counter()
                response = http.get(f"http://{HOST}:{port}/api/v1/tasks?{query}&limit=50", timeout=120)
                timings.append((time.perf_counter() - start) * 1000)
                status = response.status_code
                total = response.json().get("total") if status == 200 else None
            results[query] = {
                "status": status,
                "median_ms": round(statistics.median(timings), 1),
                "max_ms": round(max(timings), 1),
            }
            print(f"{query:34} {status:>6} {statistics.median(timings):10.1f} {max(timings):8.1f}  {total}")
        print(backend_load.load_line())
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
