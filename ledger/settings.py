"""Settings from ``LEDGER_*`` environment variables (and a ``.env`` file if present).

Nothing here runs at import time: the CLI and the app factory build one ``Settings``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path(".ledger"), description="where the SQLite file, keys and chain state live")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite in data_dir")
    master_key: str | None = Field(
        default=None, description="base64 32-byte key sealing private keys; default: data_dir/master.key"
    )
    master_key_file: Path | None = None
    public_url: str = "http://127.0.0.1:8000"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"
