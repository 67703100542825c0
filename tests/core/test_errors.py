"""The error tree: drawn whole in its docstring, structured fields on verification errors."""

from __future__ import annotations

import inspect

import pytest

from ledger import errors
from ledger.core import chaincheck, merkle
from ledger.errors import ChainLinkError, InputError, RootMismatchError, SignatureError, VerificationError


def test_the_docstring_draws_every_class_of_the_tree() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.LedgerError)]
    assert len(classes) >= 11
    for cls in classes:
        assert f"── {cls.__name__} " in str(errors.__doc__) or cls is errors.LedgerError, cls.__name__


def test_verification_errors_carry_their_check_and_place() -> None:
    exc = VerificationError("x", check="leaf", lot="L", seq=2, index=7, expected="a", found="b")
    assert (exc.check, exc.lot, exc.seq, exc.index, exc.expected, exc.found) == ("leaf", "L", 2, 7, "a", "b")
    assert (SignatureError("s").check, ChainLinkError("c").check, RootMismatchError("r").check) == (
        "signature",
        "chain",
        "inclusion",
    )
    assert exc.at(lot="M", seq=3, index=8) is exc and (exc.lot, exc.seq, exc.index) == ("L", 2, 7)  # kept
    assert VerificationError("y").at(lot="M", seq=3).seq == 3


def test_a_broken_link_raises_chain_link_error_with_expected_and_found() -> None:
    stmt = {"lot": "L", "seq": 2, "prev": "aa"}
    with pytest.raises(ChainLinkError, match="sequence number out of order: expected 1, got 2") as info:
        chaincheck.check_link("L", stmt, 1, "aa")
    assert (info.value.check, info.value.expected, info.value.found) == ("chain", 1, 2)
    with pytest.raises(ChainLinkError, match="prev hash does not link") as info:
        chaincheck.check_link("L", stmt, 2, "bb")
    assert (info.value.expected, info.value.found) == ("bb", "aa")
    chaincheck.check_link("L", stmt, 2, "bb", "aa")  # the stored head is accepted where the caller allows it


def test_an_inclusion_failure_names_the_check_and_the_roots() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(5)]
    root = merkle.root(leaves)
    with pytest.raises(RootMismatchError, match="inclusion proof gives a different root") as info:
        chaincheck.check_inclusion(leaves[1], 2, 5, merkle.inclusion_proof(leaves, 2, 5), root)
    assert (info.value.check, info.value.index, info.value.expected) == ("inclusion", 2, root.hex())


def test_merkle_raises_no_plain_value_error() -> None:
    with pytest.raises(InputError, match="range must be non-empty") as info:
        merkle.subtree_ranges(3, 3)
    assert isinstance(info.value, ValueError)  # callers catching ValueError keep working
