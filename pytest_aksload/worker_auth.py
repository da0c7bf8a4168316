"""Authenticated, encrypted master-worker channel: the worker token, its handshake and envelopes.

Locust's master-worker connection is neither authenticated nor encrypted, so everything of a run
that travels on it goes through here (`_locust/distributed.py` does the Locust side):

1. Handshake (challenge-response; the token itself never travels). The worker sends a random
   nonce (`MSG_HELLO`); the master answers with the run's salt (random per run) and a nonce of its
   own (`MSG_CHALLENGE`); the worker proves it knows the token with an HMAC over both nonces, the
   salt and its Locust id (`MSG_PROOF`). Until the proof checks out, the master sends it nothing
   of the run, and Locust itself does not know it (no spawn message, no run settings).
2. Keys: HKDF-SHA256 of the token with the run's salt, one key per direction per worker
   connection (the info binds the worker id and both nonces), so a key is fresh for each run and
   each connection.
3. Envelopes: AES-256-GCM with the message kind, the salt, the worker id and a sequence number
   as associated data (`Channel.seal` / `Channel.open`). A replayed, reordered, altered, cross-run
   or cross-worker envelope fails to open (`AuthError`). The master's run config (the key
   included) and each header refresh go master -> worker this way; each worker report (our part of
   Locust's stats message) and its final delta go worker -> master.

The token is a key, not a password: HKDF does no stretching, so it must be random and long
(`MIN_TOKEN_CHARS`; `new_token()` makes one). This module is stdlib-only at import; `cryptography`
is imported on first use, i.e. only by the Locust processes of a distributed run.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

WORKER_TOKEN_ENV = "AKSLOAD_WORKER_TOKEN"
"""The shared worker token, on the master's (the pytest process) and on each `aksload-worker`'s side."""
MIN_TOKEN_CHARS = 32
TOKEN_RECIPE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
VERSION = 1
NONCE_BYTES = 32
SALT_BYTES = 32
_MAGIC = b"AKW1"  # envelope format and version
_SEQ = struct.Struct(">Q")
_HEADER = len(_MAGIC) + _SEQ.size
_LABEL = b"pytest-aksload worker channel v1"
MASTER_TO_WORKER = b"master->worker"
WORKER_TO_MASTER = b"worker->master"
INSTALL_HINT = "authenticated workers need the 'cryptography' package: pip install cryptography"


class AuthError(ValueError):
    """A handshake message or an envelope failed its check; one line, never quoting a secret."""


def token_problem(token: str | None) -> str | None:
    """Why `token` cannot be the worker token (one line naming the accepted form), or None."""
    if not token:
        return f"environment variable {WORKER_TOKEN_ENV} is not set"
    if len(token.strip()) < MIN_TOKEN_CHARS:
        return f"{WORKER_TOKEN_ENV} has {len(token.strip())} characters; it needs at least {MIN_TOKEN_CHARS}"
    return None


def new_token() -> str:
    """A fresh random token (the runner's own, for local worker processes)."""
    return secrets.token_urlsafe(32)


def _aesgcm(key: bytes) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:  # pragma: no cover - a broken install (it is a requirement)
        raise RuntimeError(INSTALL_HINT) from None
    return AESGCM(key)


def _hkdf(token: str, salt: bytes, info: bytes) -> bytes:
    try:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    except ImportError:  # pragma: no cover
        raise RuntimeError(INSTALL_HINT) from None
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_LABEL + b"|" + info).derive(
        token.strip().encode()
    )


def _bytes(message: Mapping[str, Any], name: str, size: int) -> bytes:
    value = message.get(name) if isinstance(message, Mapping) else None
    if not isinstance(value, bytes) or len(value) != size:
        raise AuthError(f"malformed handshake message: {name} must be {size} bytes")
    return value


def _check_version(message: Any) -> None:
    version = message.get("v") if isinstance(message, Mapping) else None
    if version != VERSION:
        raise AuthError(f"the peer speaks worker protocol {version!r}; this side speaks {VERSION}")


@dataclass
class Channel:
    """One worker connection's two keys: `seal` what this side sends, `open` what it receives."""

    salt: bytes
    worker_id: str
    master: bool  # which side this is: it seals in its own direction and opens the other's
    send_key: bytes = field(repr=False)
    receive_key: bytes = field(repr=False)
    sent: int = 0
    received: int = -1  # the highest sequence number opened so far

    def _aad(self, sending: bool, kind: str, seq: int) -> bytes:
        direction = MASTER_TO_WORKER if sending == self.master else WORKER_TO_MASTER
        return b"|".join((_LABEL, direction, kind.encode(), self.salt, self.worker_id.encode(), _SEQ.pack(seq)))

    def seal(self, kind: str, plaintext: bytes) -> bytes:
        seq, self.sent = self.sent, self.sent + 1
        # Each key seals at most one message per sequence number: the nonce is the sequence number.
        nonce = b"\0\0\0\0" + _SEQ.pack(seq)
        return _MAGIC + _SEQ.pack(seq) + _aesgcm(self.send_key).encrypt(nonce, plaintext, self._aad(True, kind, seq))

    def open(self, kind: str, envelope: Any) -> bytes:
        """The plaintext; AuthError if the envelope is not this channel's next one of `kind`."""
        if not isinstance(envelope, bytes) or len(envelope) < _HEADER + 16 or not envelope.startswith(_MAGIC):
            raise AuthError(f"{kind} is not a sealed envelope")
        (seq,) = _SEQ.unpack_from(envelope, len(_MAGIC))
        if seq <= self.received:
            raise AuthError(f"{kind} #{seq} replays an earlier message (last #{self.received})")
        try:
            from cryptography.exceptions import InvalidTag
        except ImportError:  # pragma: no cover
            raise RuntimeError(INSTALL_HINT) from None
        nonce = b"\0\0\0\0" + _SEQ.pack(seq)
        try:
            plaintext = _aesgcm(self.receive_key).decrypt(nonce, envelope[_HEADER:], self._aad(False, kind, seq))
        except InvalidTag:
            raise AuthError(f"{kind} #{seq} failed authentication (another token, run or worker, or altered)") from None
        self.received = seq
        return bytes(plaintext)


def _channel(
    token: str, salt: bytes, worker_id: str, master_nonce: bytes, worker_nonce: bytes, master: bool
) -> Channel:
    context = b"|".join((worker_id.encode(), master_nonce, worker_nonce))
    to_worker = _hkdf(token, salt, MASTER_TO_WORKER + b"|" + context)
    to_master = _hkdf(token, salt, WORKER_TO_MASTER + b"|" + context)
    send, receive = (to_worker, to_master) if master else (to_master, to_worker)
    return Channel(salt, worker_id, master, send, receive)


def _proof(token: str, salt: bytes, worker_id: str, master_nonce: bytes, worker_nonce: bytes) -> bytes:
    key = _hkdf(token, salt, b"proof")
    transcript = b"|".join((_LABEL, salt, worker_id.encode(), master_nonce, worker_nonce))
    return hmac.new(key, transcript, hashlib.sha256).digest()


class WorkerHandshake:
    """The worker's side: `hello()`, then `answer(challenge)` -> (proof message, channel)."""

    def __init__(self, token: str, worker_id: str) -> None:
        self._token = token
        self.worker_id = worker_id
        self._nonce = os.urandom(NONCE_BYTES)

    def hello(self) -> dict[str, Any]:
        return {"v": VERSION, "nonce": self._nonce}

    def answer(self, challenge: Any) -> tuple[dict[str, Any], Channel]:
        _check_version(challenge)
        salt, master_nonce = _bytes(challenge, "salt", SALT_BYTES), _bytes(challenge, "nonce", NONCE_BYTES)
        proof = _proof(self._token, salt, self.worker_id, master_nonce, self._nonce)
        channel = _channel(self._token, salt, self.worker_id, master_nonce, self._nonce, master=False)
        return {"v": VERSION, "proof": proof}, channel


class MasterAuth:
    """The master's side for one run: a challenge per worker hello, a channel per valid proof."""

    def __init__(self, token: str) -> None:
        self._token = token
        self.salt = os.urandom(SALT_BYTES)  # the run's: keys of another run never open this one's envelopes
        self._pending: dict[str, tuple[bytes, bytes]] = {}  # worker id -> (master nonce, worker nonce)
        self.channels: dict[str, Channel] = {}

    def challenge(self, worker_id: str, hello: Any) -> dict[str, Any]:
        _check_version(hello)
        worker_nonce = _bytes(hello, "nonce", NONCE_BYTES)
        master_nonce = os.urandom(NONCE_BYTES)
        self._pending[worker_id] = (master_nonce, worker_nonce)
        return {"v": VERSION, "salt": self.salt, "nonce": master_nonce}

    def verify(self, worker_id: str, proof_message: Any) -> Channel:
        """The worker's channel once its proof checks out; AuthError otherwise (a proof is good once)."""
        nonces = self._pending.pop(worker_id, None)
        if nonces is None:
            raise AuthError("a proof without a challenge")
        _check_version(proof_message)
        proof = _bytes(proof_message, "proof", hashlib.sha256().digest_size)
        if not hmac.compare_digest(proof, _proof(self._token, self.salt, worker_id, *nonces)):
            raise AuthError("the worker's proof is wrong: it does not hold this master's worker token")
        channel = _channel(self._token, self.salt, worker_id, *nonces, master=True)
        self.channels[worker_id] = channel
        return channel
