"""The Pulumi CLI's PostgreSQL backend (`pulumi login postgres://...`), as k2infra checks and reads it.

The CLI (v3.274.1, pkg/backend/diy/postgres) keeps the DIY backend's objects as rows of one table
(`?table=` of the URL, default `pulumi_state`): `key TEXT PRIMARY KEY, data JSON, updated_at`, where
`data` is `{"data": "<base64 of the object>"}` and the key is the object's path under the URL's
database name: `<db>/.pulumi/stacks/<project>/<stack>.json` (the checkpoint), `<db>/.pulumi/history/...`
and, while an update runs, `<db>/.pulumi/locks/organization/<project>/<stack>/<uuid>.json` holding the
same `{"pid", "username", "hostname", "timestamp"}` as a lock file of the file backend. So a lock is one
row, judged like a lock file (k2infra.ops.stack_lock) and released by deleting that row alone.

`check` says in one line what keeps a URL from working (refused password, server not reachable, no
such database, a table the user may not create) and how to fix it, with the password masked, before
any Pulumi command runs. The CLI's driver (lib/pq) requires TLS unless the URL says `sslmode=`: the
check does the same, so that it fails where the CLI would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from k2infra.model.errors import K2Error

SCHEME = "postgres"
DEFAULT_TABLE = "pulumi_state"
LOCKS = ".pulumi/locks/"


class BackendUnusable(K2Error):
    """The state backend cannot be used; ``str(err)`` is one line: the URL (masked), why, and the fix."""

    def __init__(self, url: str, why: str, fix: str) -> None:
        self.url, self.why, self.fix = masked(url), why, fix
        super().__init__(f"state backend {self.url}: {why}; fix: {fix}")


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme == SCHEME


def masked(url: str) -> str:
    """The URL with its password (if any) replaced by ****."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:****@{host}"))


@dataclass(frozen=True)
class Target:
    """Where a postgres:// URL points, and how libpq connects to it."""

    url: str
    table: str
    conninfo: str  # the URL without `table`, with lib/pq's default sslmode=require made explicit
    user: str
    database: str
    host: str

    @classmethod
    def of(cls, url: str) -> Target:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        table = next((v for k, v in query if k == "table"), "") or DEFAULT_TABLE
        rest = [(k, v) for k, v in query if k != "table"]
        if not any(k == "sslmode" for k, _ in rest):
            rest.append(("sslmode", "require"))  # lib/pq's default, unlike libpq's `prefer`
        conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
        host = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        return cls(url, table, conninfo, parts.username or "", parts.path.lstrip("/"), host)


def _diagnose(target: Target, message: str) -> BackendUnusable:
    text = message.strip().splitlines()[-1] if message.strip() else "unknown error"
    low = message.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        return BackendUnusable(
            target.url,
            f"PostgreSQL refused the password of user {target.user or '(default)'}",
            "put the right password in the URL (or PGPASSWORD); for the local cluster: "
            "`bash tools/postgres.sh url` prints its URL",
        )
    if "database" in low and "does not exist" in low:
        return BackendUnusable(
            target.url,
            f"database {target.database or '(default)'} does not exist on {target.host}",
            f"create it (createdb -h HOST -p PORT -U {target.user or 'USER'} {target.database or 'DB'}) "
            "or name an existing one in the URL",
        )
    if "ssl" in low and ("not support" in low or "not enabled" in low):
        return BackendUnusable(
            target.url,
            f"the server at {target.host} has no TLS and the URL asks for it (the CLI's default sslmode=require)",
            "add ?sslmode=disable to the URL for a server reached on a trusted network only",
        )
    if any(
        word in low
        for word in ("connection refused", "timeout expired", "could not translate", "no route", "could not connect")
    ):
        return BackendUnusable(
            target.url,
            f"cannot reach PostgreSQL at {target.host} ({text})",
            "start it (the local one: `bash tools/postgres.sh start`) or fix the host and port in the URL",
        )
    return BackendUnusable(target.url, text, "check the URL and the server's log")


@contextmanager
def connect(url: str, timeout: float = 10.0) -> Iterator[Any]:
    """A psycopg connection to the backend's database; BackendUnusable when there is none."""
    import psycopg  # only commands that use a PostgreSQL backend need it

    target = Target.of(url)
    try:
        conn = psycopg.connect(target.conninfo, connect_timeout=max(1, int(timeout)), autocommit=True)
    except psycopg.Error as exc:
        raise _diagnose(target, str(exc)) from None
    try:
        yield conn
    finally:
        conn.close()


def check(url: str, timeout: float = 10.0) -> None:
    """Raise BackendUnusable unless the CLI can use this backend (its table there, or creatable)."""
    target = Target.of(url)
    with connect(url, timeout) as conn:
        exists, schema, may_create = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL, current_schema(), "
            "coalesce(has_schema_privilege(current_schema(), 'CREATE'), false)",
            (target.table,),
        ).fetchone()
    if not exists and not may_create:
        raise BackendUnusable(
            url,
            f"table {target.table} does not exist in database {target.database} and user {target.user} may not "
            f"create it in schema {schema or '(none: empty search_path)'}",
            f"as the database owner: GRANT CREATE ON SCHEMA {schema or 'public'} TO {target.user}; "
            f"or create it: CREATE TABLE {target.table} (key TEXT PRIMARY KEY, data JSON NOT NULL, "
            "updated_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )


@dataclass(frozen=True)
class LockRow:
    key: str
    content: dict[str, Any] | None  # the lock's JSON, None if it cannot be decoded
    problem: str = ""


def lock_rows(url: str, project: str, stack: str, timeout: float = 10.0) -> list[LockRow]:
    """The lock rows of `stack` (project-scoped and legacy layouts), oldest key first."""
    target = Target.of(url)
    wanted = (f"{LOCKS}organization/{project}/{stack}/", f"{LOCKS}{stack}/")
    with connect(url, timeout) as conn:
        if not conn.execute("SELECT to_regclass(%s) IS NOT NULL", (target.table,)).fetchone()[0]:
            return []  # no table yet: nothing was ever stored, nor locked
        rows = conn.execute(
            f"SELECT key, data::text FROM {target.table} WHERE key LIKE %s ORDER BY key",  # the table as the CLI names it
            (f"%{LOCKS}%",),
        ).fetchall()
    found = []
    for key, data in rows:
        relative = key[key.index(LOCKS) :]
        folder, _, name = relative.rpartition("/")
        if f"{folder}/" not in wanted or not name.endswith(".json"):
            continue
        found.append(_decode(key, data))
    return found


def _decode(key: str, data: str) -> LockRow:
    try:
        blob = base64.b64decode(json.loads(data)["data"])
        content = json.loads(blob)
    except (ValueError, KeyError, TypeError) as exc:
        return LockRow(key, None, f"undecodable lock row: {exc}")
    return LockRow(key, content if isinstance(content, dict) else None)


def delete_lock(url: str, key: str, timeout: float = 10.0) -> None:
    """Delete one lock row (and nothing else)."""
    if LOCKS not in key:
        raise ValueError(f"not a lock key: {key}")
    target = Target.of(url)
    with connect(url, timeout) as conn:
        conn.execute(f"DELETE FROM {target.table} WHERE key = %s", (key,))
