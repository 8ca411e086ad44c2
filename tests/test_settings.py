"""One settings object: every variable documented, every bad value one clear line, the environment over .env."""

import re
from dataclasses import fields
from pathlib import Path

import pytest

from bot import repl
from retrieval import settings
from retrieval.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent
BAD = {
    "QA_BACKEND": "mysql",
    "QA_PG_EF_SEARCH": "0",
    "QA_TOP_K": "five",
    "QA_FUSION": "bogus",
    "QA_FUSION_WEIGHTS": "1,2",
    "QA_ABSTAIN_THRESHOLD": "1.5",
    "QA_DEVICE": "tpu",
    "TELEGRAM_BOT_TOKEN": "not-a-token",
    "TELEGRAM_API_BASE_URL": "localhost:8081",
    "TELEGRAM_ALLOWED_USERS": "12,abc",
    "TELEGRAM_ALLOWED_CHATS": "-100x",
    "TELEGRAM_ADMIN_USERS": "me",
    "TELEGRAM_SEND_DEADLINE_S": "-1",
}


def documented() -> set[str]:
    return set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(encoding="utf-8"), re.M))


def test_every_setting_is_documented_in_env_example_and_nothing_else_is():
    assert documented() == {f.metadata["env"] for f in fields(Settings)}


def test_every_checked_setting_has_a_bad_value_here():
    unchecked = {"QA_CORPUS", "QA_INDEX", "DATABASE_URL"}  # any path or connection string is accepted until used
    assert set(BAD) == documented() - unchecked


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_value_is_one_line_naming_the_variable(name):
    with pytest.raises(SettingsError) as error:
        settings.load({name: BAD[name]})
    message = str(error.value)
    assert message.startswith(f"{name}=") and "\n" not in message and "must be" in message
    if name == "TELEGRAM_BOT_TOKEN":
        assert BAD[name] not in message  # secrets are never echoed


def test_all_bad_values_are_reported_at_once():
    with pytest.raises(SettingsError) as error:
        settings.load(BAD)
    assert len(str(error.value).splitlines()) == len(BAD)


def test_values_are_typed_and_the_environment_wins_over_dotenv(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("QA_TOP_K=9\nQA_FUSION=rrf\nTELEGRAM_ALLOWED_USERS=1, 2\n", encoding="utf-8")
    monkeypatch.setenv("QA_TOP_K", "3")
    loaded = settings.load(dotenv=dotenv)
    assert loaded.top_k == 3 and loaded.fusion == "rrf" and loaded.telegram_allowed_users == {1, 2}
    assert loaded.fusion_weights == Settings().fusion_weights and isinstance(loaded.corpus, Path)


def test_a_developers_dotenv_does_not_reach_the_tests(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("QA_ABSTAIN_THRESHOLD=0.99\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert settings.load().abstain_threshold == Settings().abstain_threshold


def test_command_line_options_override_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("QA_INDEX", "/from/env")
    monkeypatch.setenv("QA_CORPUS", "from-env")
    loaded = settings.load(overrides={"index": tmp_path, "corpus": None})
    assert loaded.index == tmp_path and loaded.corpus == Path("from-env")


def test_postgres_without_a_database_is_refused():
    with pytest.raises(SettingsError, match="QA_BACKEND=postgres needs DATABASE_URL"):
        settings.load({"QA_BACKEND": "postgres"})


def test_a_wrong_setting_stops_the_repl_with_one_line_and_exit_code_2(monkeypatch, capsys):
    monkeypatch.setenv("QA_FUSION", "bogus")
    assert repl.main(["--no-update"]) == 2
    err = capsys.readouterr().err
    assert err == "error: QA_FUSION='bogus': must be one of zscore, rrf\n"
