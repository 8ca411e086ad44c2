"""No password or token in any log line or error message, however DATABASE_URL is written."""

import logging

import pytest

from retrieval.backends import IndexProblem, Location, open_index
from retrieval.secrets import database_secrets, describe_database, protect, scrub

PASSWORD = "s3cr@t/pa55"  # a raw @ and / inside, as people do write them
FORMS = {
    "uri with raw @ and /": f"postgresql://qa:{PASSWORD}@127.0.0.1:1/qa",
    "uri, percent-encoded": "postgresql://qa:s3cr%40t%2Fpa55@127.0.0.1:1/qa",
    "key=value": f"host=127.0.0.1 port=1 dbname=qa user=qa password={PASSWORD}",
    "key=value, quoted": f"host=127.0.0.1 port=1 dbname=qa user=qa password='{PASSWORD}'",
    "query parameter": f"postgresql://qa@127.0.0.1:1/qa?password={PASSWORD}",
}


@pytest.mark.parametrize("form", FORMS)
def test_no_database_password_in_errors_or_logs(form, tmp_path, caplog):
    url = FORMS[form]
    with caplog.at_level(logging.DEBUG):
        where = Location(tmp_path, "postgres", url)
        logging.getLogger("qa.test").warning("connecting with %s", url)  # even a careless log line
        with pytest.raises(IndexProblem) as problem:
            open_index(where)
    shown = str(problem.value) + str(where) + caplog.text
    assert "cannot connect" in str(problem.value)
    for secret in ("s3cr@t/pa55", "s3cr%40t%2Fpa55", "pa55"):
        assert secret not in shown, (form, shown)


def test_pgpassword_is_protected_too(monkeypatch, caplog):
    monkeypatch.setenv("PGPASSWORD", "env-only-secret")
    protect(*database_secrets("host=db dbname=qa"))
    with caplog.at_level(logging.INFO):
        logging.getLogger("qa.test").info("password env-only-secret leaked?")
    assert "env-only-secret" not in caplog.text and "***" in caplog.text
    assert scrub("x env-only-secret y") == "x *** y"


def test_a_database_is_described_by_host_and_name_only():
    assert describe_database(FORMS["key=value"]) == "database qa (qa@127.0.0.1:1)"
    assert PASSWORD not in describe_database(FORMS["uri with raw @ and /"])
    assert describe_database("postgresql://[broken").startswith("the database in DATABASE_URL")
