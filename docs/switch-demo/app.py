"""A demo app for the switch walk-through: one version per environment, on 127.0.0.1.

    python app.py blue 8001 --column status    # the old version writes orders.status
    python app.py green 8002 --column state    # the new version writes orders.state

Every GET / inserts an order through the column its version knows; /health answers 200
while the database does. Its database session is named shop-NAME, which is how
``switch`` and ``apply --phase contract`` recognise it in pg_stat_activity.
"""

from __future__ import annotations

import argparse
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
from psycopg import sql


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("port", type=int)
    parser.add_argument("--column", choices=["status", "state"], required=True)
    args = parser.parse_args()
    conn = psycopg.connect(os.environ["BGMIGRATE_DSN"], autocommit=True, application_name=f"shop-{args.name}")
    lock = threading.Lock()  # one connection, many request threads
    insert = sql.SQL("INSERT INTO orders ({c}) VALUES ('new') RETURNING id, {c}").format(c=sql.Identifier(args.column))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            try:
                with lock:
                    if self.path == "/health":
                        conn.execute("SELECT 1")
                        body = "ok"
                    else:
                        row = conn.execute(insert).fetchone()
                        assert row is not None
                        body = f"{args.name}: order {row[0]} {args.column}={row[1]}"
                status = 200
            except psycopg.Error as exc:
                status, body = 500, f"{args.name}: {str(exc).splitlines()[0]}"
            data = (body + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
