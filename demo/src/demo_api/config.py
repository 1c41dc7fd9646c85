"""The shop's one settings object, read from the environment."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime settings. Every field can be set through ``DEMO_API_<NAME>``.

    ``DATABASE_URL`` (without prefix) is accepted too and wins over the prefixed form.
    """

    model_config = SettingsConfigDict(env_prefix="DEMO_API_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "DEMO_API_DATABASE_URL"),
        description="SQLAlchemy URL; default is a SQLite file under data_dir.",
    )
    data_dir: Path = Field(default=Path("data"), description="Where the default SQLite file lives.")
    pool_size: int = Field(default=10, ge=1, le=1000)
    pool_max_overflow: int = Field(default=10, ge=0, le=1000)
    pool_timeout_s: float = Field(default=5.0, gt=0, le=600)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    max_body_bytes: int = Field(default=64 * 1024, ge=1, description="Larger bodies get 413.")
    faults: str = Field(default="", description="Fault injection spec, see demo_api.faults.")

    def resolved_database_url(self) -> str:
        """The database URL to use, defaulting to ``<data_dir>/shop.db``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'shop.db').resolve()}"
