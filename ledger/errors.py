"""One error tree for the whole ledger.

    LedgerError
    ├── VerificationError          a proof, signature or chain link does not check out
    │   ├── RootMismatchError      a recomputed root differs from the expected one
    │   ├── SignatureError         an Ed25519 signature or key validity check failed
    │   ├── ChainLinkError         a lot's hash chain (seq / prev) is broken
    │   └── UnverifiableError      the chain, contract or log key is not the trusted one, or the chain
    │                              cannot answer: no verdict about the data (never "tampered")
    ├── InputError (ValueError)    bad input from a user or client; nothing was stored
    │   ├── ConflictError          the input is well formed but clashes with stored state
    │   ├── QueryError             an EPCIS query parameter is unknown or malformed
    │   ├── NotAcceptable          the client asks for a version or behaviour not offered (406)
    │   └── MalformedRequest       an EPCIS request that is not the document it should be
    ├── PermissionDenied           the caller is authenticated but not allowed to do this
    ├── Unauthenticated            the caller's API key is unknown or revoked (checked again at commit)
    ├── NotFound                   the thing asked for does not exist
    │   └── NoSuchResource         an EPCIS event or capture job that does not exist
    ├── AnchorError                talking to the chain failed (raised ``from`` the RPC error)
    ├── Unavailable                a storage service the ledger needs (the photo bucket) cannot be
    │                              reached: nothing was stored, retry later (503)
    └── ConfigError                settings or key material are unusable (e.g. a wrong master key)

Messages say what was expected and what was found: "inclusion proof has wrong size:
expected 3, got 4". A ``VerificationError`` also carries them as fields - ``check`` (which
check failed), ``lot``, ``seq``, ``index``, ``expected``, ``found`` - so that no caller parses a
message to learn what failed. The API maps this tree to HTTP status codes in one place.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the ledger raises on purpose."""

    code = "ledger_error"


class VerificationError(LedgerError):
    """A proof, signature or hash chain failed to verify.

    ``check`` names the failed check (``record``, ``signature``, ``key``, ``chain``, ``leaf``,
    ``inclusion``, ``anchor``, ``format``, ...; each subclass has a default), ``lot``, ``seq`` and
    ``index`` (log index) the entry it failed on when there is one, and ``expected`` / ``found``
    the two values that differ when the check compares values.
    """

    code = "verification_failed"
    default_check: str | None = None

    def __init__(
        self,
        message: str,
        *,
        check: str | None = None,
        lot: str | None = None,
        seq: int | None = None,
        index: int | None = None,
        expected: object = None,
        found: object = None,
    ) -> None:
        super().__init__(message)
        self.check = check if check is not None else self.default_check
        self.lot, self.seq, self.index = lot, seq, index
        self.expected, self.found = expected, found

    def at(self, *, lot: str | None = None, seq: int | None = None, index: int | None = None) -> VerificationError:
        """Fill in where the failure happened (fields already set are kept); returns ``self``."""
        self.lot = self.lot if self.lot is not None else lot
        self.seq = self.seq if self.seq is not None else seq
        self.index = self.index if self.index is not None else index
        return self


class RootMismatchError(VerificationError):
    """A root recomputed from a proof differs from the root it should equal."""

    code = "root_mismatch"
    default_check = "inclusion"


class SignatureError(VerificationError):
    """A signature does not verify, or its key was not valid at signing time."""

    code = "bad_signature"
    default_check = "signature"


class ChainLinkError(VerificationError):
    """A lot's entries are not linked seq by seq through their prev hashes."""

    code = "chain_broken"
    default_check = "chain"


class UnverifiableError(VerificationError):
    """The data cannot be checked against the trusted roots: another chain, contract or log key, or
    a chain that cannot answer (no code at the address, a precompile, an RPC error)."""

    code = "unverifiable"
    default_check = "anchor"


class InputError(LedgerError, ValueError):
    """Bad input: the caller must fix it; nothing was stored.

    ``field`` names the offending field (dotted path) when one is known, and ``details``
    may carry a list of per-item errors for batch operations.
    """

    code = "invalid_input"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        details: list[dict[str, object]] | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.details = details or []


class ConflictError(InputError):
    """Well-formed input that clashes with what is stored (duplicate, stale head)."""

    code = "conflict"


class NotFound(LedgerError):
    """The organization, product, lot, key or entry does not exist."""

    code = "not_found"


class AnchorError(LedgerError):
    """The chain could not be read or written; raised from the underlying RPC error."""

    code = "anchor_failed"


class Unavailable(LedgerError):
    """A storage service (e.g. the S3 photo bucket) cannot be reached or refused the request; nothing was
    stored, unless the message says it cannot be told (a write whose connection was lost as it committed)."""

    code = "unavailable"


class ConfigError(LedgerError):
    """Settings or key material are unusable; the service must not start."""

    code = "config_error"


class PermissionDenied(LedgerError):
    """The caller is authenticated but not allowed to do this."""

    code = "forbidden"


class Unauthenticated(LedgerError):
    """The caller's API key is unknown or revoked (the API answers 401).

    The sequencer checks the key of every request again inside its batch's transaction, so a key
    revoked after the request was authenticated has nothing acknowledged."""

    code = "unauthorized"


class QueryError(InputError):
    """An EPCIS query the repository cannot answer as asked (unknown parameter, bad value, stale page token).

    ``problem_type`` is the EPCIS 2.0 exception type, sent beside the error body (RFC 7807 fields).
    """

    code = "query_parameter"
    problem_type = "epcisException:QueryParameterException"


class NotAcceptable(InputError):
    """The client asked for versions (``GS1-EPCIS-Min``/``-Max``, ``GS1-CBV-…``) this server does not speak."""

    code = "not_acceptable"
    problem_type = "epcisException:NotAcceptableException"


class MalformedRequest(InputError):
    """A request that is syntactically wrong (e.g. a Digital Link whose GTIN fails its check digit): HTTP 400."""

    code = "bad_request"


class NoSuchResource(NotFound):
    """An EPCIS event or capture job that does not exist (``epcisException:NoSuchResourceException``)."""

    problem_type = "epcisException:NoSuchResourceException"
