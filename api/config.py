"""Settings of the HTTP layer (``LEDGER_*`` environment variables), built by the app factory."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEDGER_", env_file=".env", extra="ignore")

    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, description="larger request bodies get 413")
    rate_limit: float = Field(
        default=200.0, ge=0, description="public requests per second per client IP (token bucket); 0 turns it off"
    )
    rate_burst: int = Field(default=2000, ge=1, description="bucket size: requests a client may make at once")
    entries_page_max: int = Field(default=1000, ge=1, le=10000, description="most log entries per /log/entries page")
    verdict_cache_size: int = Field(default=10000, ge=0)
    verdict_cache_ttl: float = Field(
        default=60.0, ge=0, description="seconds a cached verdict lives even if nothing it reads is appended"
    )
    qr_cache_size: int = Field(default=2048, ge=0)
    auth_cache_ttl: float = Field(
        default=10.0,
        ge=0,
        le=300,
        description="seconds an append route trusts an API key verified before (checked again at commit); 0: never",
    )
    opentelemetry: bool = Field(
        default=False, description="FastAPI's OpenTelemetry traces, metrics and logs, when a provider is configured"
    )
    log_requests: bool = Field(default=True, description="one JSON log line per request")
