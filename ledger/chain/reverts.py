"""Where chain failures are normalized: every backend's revert becomes ``AnchorRevert`` naming the
contract's custom error, every other RPC or connection failure ``AnchorError``.

A revert surfaces as ``eth_tester.exceptions.TransactionFailed`` on eth-tester,
``web3.exceptions.ContractCustomError`` on anvil, or a mined receipt with status 0 (checked by the
client). Custom errors are decoded with the ABI of the committed contract artifact.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.exceptions import ContractLogicError

from ledger.errors import AnchorError

_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


class AnchorRevert(AnchorError):
    """The contract refused: ``error`` is its custom error's name, ``values`` its arguments."""

    code = "anchor_reverted"

    def __init__(self, message: str, error: str = "", values: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.values = values or {}


@cache
def artifact() -> dict[str, Any]:
    """The committed compiled contract: ``{"abi": [...], "bytecode": "0x..."}``."""
    text = resources.files("ledger").joinpath("abi/ProvenanceAnchor.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _error_abis() -> dict[bytes, tuple[str, list[str], list[str]]]:
    out = {}
    for item in artifact()["abi"]:
        if item["type"] == "error":
            types = [i["type"] for i in item["inputs"]]
            selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
            out[selector] = (item["name"], [i["name"] for i in item["inputs"]], types)
    return out


def decode_revert(data: bytes) -> tuple[str, dict[str, Any]]:
    """The custom error name and arguments in revert data (``("", {})`` if unknown)."""
    selector, body = data[:4], data[4:]
    if selector == _ERROR_STRING:
        return "Error", {"message": abi_decode(["string"], body)[0]}
    if selector == _PANIC:
        return "Panic", {"code": abi_decode(["uint256"], body)[0]}
    known = _error_abis().get(selector)
    if known is None:
        return "", {}
    name, names, types = known
    values = [
        to_checksum_address(v) if t == "address" else v for t, v in zip(types, abi_decode(types, body), strict=True)
    ]
    return name, dict(zip(names, values, strict=True))


def _revert_data(exc: BaseException) -> bytes | None:
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    msg = str(exc.args[0]) if exc.args else ""
    payload = msg.removeprefix("execution reverted: ")
    if payload[:2] in ("b'", 'b"'):
        value = ast.literal_eval(payload)
        return value if isinstance(value, bytes) else None
    return None


def revert_from(exc: BaseException) -> AnchorRevert:
    """An ``AnchorRevert`` for any backend's revert exception."""
    data = _revert_data(exc)
    name, values = decode_revert(data) if data else ("", {})
    shown = ", ".join(f"{k}={v}" for k, v in values.items())
    what = f"{name}({shown})" if name else str(exc)
    return AnchorRevert(f"contract reverted: {what}", name, values)


def _is_revert(exc: BaseException) -> bool:
    """web3's revert (anvil, real nodes) or eth-tester's, without importing eth-tester (a test dependency)."""
    cls = type(exc)
    return isinstance(exc, ContractLogicError) or (
        cls.__name__ == "TransactionFailed" and cls.__module__.startswith("eth_tester")
    )


@contextmanager
def rpc(what: str) -> Iterator[None]:
    """Turn reverts into ``AnchorRevert`` and every other failure into ``AnchorError``."""
    try:
        yield
    except AnchorError:
        raise
    except Exception as exc:
        if _is_revert(exc):
            raise revert_from(exc) from exc
        raise AnchorError(f"{what} failed: {type(exc).__name__}: {_short(exc)}") from exc


def _short(exc: BaseException) -> str:
    """The gist of an RPC error: urllib3's connection errors nest a whole story."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] [^'\")]+", text)
    return errno.group(0) if errno else text[:300]
