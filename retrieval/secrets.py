"""Keeps secrets (database passwords, the bot token) out of every log line and error message.

A connection string is never printed: `describe_database` names the host and database instead.
As defence in depth, every secret seen is registered with `protect`, and from then on each log
record has it starred out, in its message and its traceback, before any handler sees it.
"""

from __future__ import annotations

import logging
import os
import re
import threading

MASK = "***"
MIN_SECRET = 3  # shorter strings would star out ordinary words; nobody uses such a password anyway

_secrets: set[str] = set()
_lock = threading.Lock()


def scrub(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def protect(*secrets: str | None) -> None:
    """Stars these strings out of every log record made from now on, and out of `scrub`'s output."""
    with _lock:
        if not _secrets:
            previous = logging.getLogRecordFactory()

            def scrubbing_factory(*args, **kwargs) -> logging.LogRecord:
                return _scrubbed(previous(*args, **kwargs))

            logging.setLogRecordFactory(scrubbing_factory)
        _secrets.update(s for s in secrets if s and len(s) >= MIN_SECRET)


def _scrubbed(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a broken format string is logging's to report, not ours
        return record
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    record.msg, record.args = scrub(message), ()
    if record.exc_text:
        record.exc_text = scrub(record.exc_text)
    return record


def database_secrets(url: str) -> set[str]:
    """Every string in a connection string that might be its password, however it was written:
    URI user info (even with a raw @ or / in it), ?password=, key=value, and PGPASSWORD."""
    found = {os.environ.get("PGPASSWORD", "")}
    userinfo = re.match(r"^\w+://[^:/@]*:(.*)@[^@]*$", url, re.S)
    if userinfo:
        raw = userinfo.group(1)
        found.add(raw)
        found.update(re.split(r"[@/]", raw))
    found.update(re.findall(r"[?&]password=([^&#]+)", url))
    found.update(m.group(1) or m.group(2) for m in re.finditer(r"\bpassword\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))", url))
    try:
        from psycopg.conninfo import conninfo_to_dict

        found.add(str(conninfo_to_dict(url).get("password") or ""))
    except Exception:  # unparsable, or no psycopg: the patterns above still apply
        pass
    return {s for s in found if s}


def describe_database(url: str) -> str:
    """Where a database is, for people: user, host, port and name; never the string itself."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(url)
    except Exception:
        return "the database in DATABASE_URL (which could not be parsed)"
    host = parts.get("host") or "localhost"
    where = f"{host}:{parts['port']}" if parts.get("port") else host
    user = f"{parts['user']}@" if parts.get("user") else ""
    text = f"database {parts.get('dbname') or parts.get('user') or '(default)'} ({user}{where})"
    for secret in sorted(database_secrets(url), key=len, reverse=True):  # a raw @ in a password moves it into the host or name
        if len(secret) >= MIN_SECRET:
            text = text.replace(secret, MASK)
    return text
