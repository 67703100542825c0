"""The data folder's file names are data: a release that renamed them would orphan a user's ledger."""

from __future__ import annotations

from pathlib import Path

from ledger.settings import Settings


def test_the_default_database_is_ledger_db_in_the_data_folder(tmp_path: Path) -> None:
    url = Settings(data_dir=tmp_path, database_url=None).resolved_database_url()
    assert url == f"sqlite:///{(tmp_path / 'ledger.db').resolve()}"


def test_an_explicit_database_url_wins(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:5432/test"
    assert Settings(data_dir=tmp_path, database_url=url).resolved_database_url() == url
