"""Settings from ``LEDGER_*`` environment variables (and a ``.env`` file if present).

Nothing here runs at import time: the CLI and the app factory build one ``Settings``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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
    idempotency_retention_hours: float = Field(
        default=24.0, gt=0, le=24 * 365, description="how long a write's Idempotency-Key and first answer are kept"
    )
    sequencer_max_wait_ms: float = Field(
        default=2.0, ge=0, le=1000, description="how long the sequencer waits for more requests to join a batch"
    )
    sequencer_min_wait_ms: float = Field(
        default=0.5,
        ge=0,
        le=1000,
        description="how long a batch stays open at least once the sequencer starts collecting it (group commit)",
    )
    sequencer_max_batch: int = Field(
        default=256, ge=1, le=5000, description="events per sequencer batch (one larger request travels alone)"
    )

    # --- photos (ledger/store/photos.py): content-addressed files in data_dir/photos, or an S3-compatible bucket ---
    photo_store: Literal["files", "s3"] = Field(default="files", description="where photos live: files or s3")
    photo_s3_endpoint_url: str | None = Field(
        default=None, description="S3 API endpoint, e.g. http://127.0.0.1:9000 (MinIO); default: AWS S3 of the region"
    )
    photo_s3_bucket: str | None = Field(default=None, description="bucket of the photos (must exist)")
    photo_s3_region: str = Field(default="us-east-1", description="SigV4 signing region")
    photo_s3_access_key: str | None = Field(default=None, description="access key id; default: boto3's AWS_* chain")
    photo_s3_secret_key: SecretStr | None = Field(default=None, description="secret access key")
    photo_s3_prefix: str = Field(default="", max_length=200, description="key prefix inside the bucket, e.g. photos/")
    photo_s3_addressing_style: Literal["path", "virtual"] = Field(
        default="path", description="path (MinIO, Garage) or virtual-hosted (AWS, R2) bucket addressing"
    )
    photo_s3_timeout: float = Field(default=5.0, gt=0, le=120, description="connect and read timeout, seconds")

    # --- chain and anchoring (ledger/chain.py, ledger/anchoring.py, ledger/devchain.py) ---
    rpc_url: str | None = Field(default=None, description="EVM JSON-RPC URL; default: the local devchain (anvil)")
    chain_id: int | None = Field(default=None, description="expected chain id; refuse to anchor on another chain")
    contract_address: str | None = Field(
        default=None, description="ProvenanceAnchor address; default: data_dir/deployments.json for the chain id"
    )
    anchor_key: SecretStr | None = Field(
        default=None,
        description="hex private key of the anchoring account; on chain id 31337 only, anvil's first dev key is the "
        "default (never on any other chain)",
    )
    anchor_keystore: Path | None = Field(default=None, description="encrypted keystore JSON of the anchoring account")
    anchor_keystore_password: SecretStr | None = None
    anchor_keystore_password_file: Path | None = None
    confirmations: int = Field(default=0, ge=0, le=1000, description="blocks to wait on top of the anchor's block")
    anchor_interval: float = Field(default=10.0, gt=0, description="seconds between anchors while entries wait")
    anchor_batch: int = Field(default=1000, ge=1, description="anchor at once when this many entries wait")
    anchor_gas: int = Field(default=100_000, ge=21_000, le=1_000_000, description="gas limit of an anchor transaction")
    anchor_retry_max: float = Field(default=60.0, gt=0, description="longest pause between retries after RPC errors")
    max_fee_gwei: float | None = Field(default=None, gt=0, description="EIP-1559 max fee; default 2 x base fee + tip")
    priority_fee_gwei: float | None = Field(default=None, ge=0, description="EIP-1559 tip; default: the node's")
    explorer_url: str | None = Field(default=None, description="block explorer base URL for tx links")
    devchain_port: int = Field(default=8545, ge=1, le=65535)
    anvil_bin: Path | None = Field(default=None, description="anvil binary; default: node_modules/.bin/anvil")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'ledger.db').resolve()}"

    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"
