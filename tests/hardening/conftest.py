"""The API fixtures (``world``, ``client``, ``app_factory``) of ``tests/api/conftest.py``, reused here."""

from tests.api.conftest import app_factory, client, world

__all__ = ["app_factory", "client", "world"]
