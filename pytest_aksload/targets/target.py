"""What a load test aims at: the resolved endpoint and the credential that opens it.

Every resolver (plain scoring URI, embedded local service, Azure ML SDK v1 / v2) produces a
`Target`. Objects here hold secrets, so their `repr`/`str` never show them: pytest prints fixture
values and locals in tracebacks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pytest_aksload.redact import REDACTED, SECRETS
from pytest_aksload.targets.deployment import Deployment

AUTH_MODES = ("key", "token", "none")


class TargetError(Exception):
    """The endpoint could not be resolved; the message is one line the user can act on."""


class AuthHeaders(Mapping[str, str]):
    """Read-only HTTP headers whose values are hidden in `repr`/`str`.

    Use it like a dict (`requests.post(uri, headers=aks_auth_headers)`); printing it shows the
    header names only.
    """

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._headers = dict(headers or {})

    def __getitem__(self, name: str) -> str:
        return self._headers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name!r}: {REDACTED!r}" for name in self._headers)
        return f"AuthHeaders({{{shown}}})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    __hash__ = None  # type: ignore[assignment]


TokenFetcher = Callable[[], "tuple[str, float | None]"]
"""Returns a fresh (token, refresh_after_epoch_seconds or None)."""


class Credential:
    """The secret that authorises requests: a static key, a refreshable token, or nothing.

    `refresh_after` is the epoch time after which a token should be fetched again; the runner
    asks `current_headers(refresh=True)` periodically and passes changed headers to the child.
    """

    def __init__(
        self,
        mode: str,
        secret: str | None = None,
        *,
        refresh_after: float | None = None,
        fetch_token: TokenFetcher | None = None,
    ) -> None:
        if mode not in AUTH_MODES:
            raise ValueError(f"auth mode must be one of {', '.join(AUTH_MODES)}, not {mode!r}")
        self.mode = mode
        self._secret = secret
        _remember(secret)
        self.refresh_after = refresh_after
        self._fetch_token = fetch_token
        self._lock = threading.Lock()

    @classmethod
    def none(cls) -> Credential:
        return cls("none")

    @classmethod
    def key(cls, key: str | None) -> Credential:
        return cls("key", key) if key else cls.none()

    @classmethod
    def token(cls, fetch_token: TokenFetcher) -> Credential:
        token, refresh_after = fetch_token()
        return cls("token", token, refresh_after=refresh_after, fetch_token=fetch_token)

    def needs_refresh(self, now: float | None = None) -> bool:
        if self._fetch_token is None or self.refresh_after is None:
            return False
        return (time.time() if now is None else now) >= self.refresh_after

    def refresh(self) -> None:
        """Fetch a new token now (no-op for keys)."""
        if self._fetch_token is None:
            return
        token, refresh_after = self._fetch_token()
        _remember(token)  # before anyone can print it; the old token stays masked too
        with self._lock:
            self._secret, self.refresh_after = token, refresh_after

    def headers(self) -> AuthHeaders:
        with self._lock:
            if self._secret is None:
                return AuthHeaders()
            return AuthHeaders({"Authorization": f"Bearer {self._secret}"})

    def current_headers(self, refresh: bool = True) -> AuthHeaders:
        """Headers to send now, fetching a new token first when the old one is due."""
        if refresh and self.needs_refresh():
            self.refresh()
        return self.headers()

    def __repr__(self) -> str:
        shown = REDACTED if self._secret else None
        return f"Credential(mode={self.mode!r}, secret={shown!r})"

    __str__ = __repr__


def _remember(secret: str | None) -> None:
    """Every credential the session holds is masked in every output (pytest_aksload.redact)."""
    if secret:
        SECRETS.remember(secret)
        SECRETS.remember(f"Bearer {secret}")


@dataclass(frozen=True)
class Target:
    """A resolved scoring endpoint.

    `extra_headers` are non-secret headers every request carries (e.g. Azure ML's
    `azureml-model-deployment`). `kind` says which resolver produced it. `deployment`: what the
    target tells about the deployment behind it (targets/deployment.py); every target the session
    options resolve has one, None means not read (e.g. the other side of a side-by-side gate).
    """

    scoring_uri: str
    name: str
    kind: str
    credential: Credential = field(default_factory=Credential.none)
    swagger_uri: str | None = None
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    deployment: Deployment | None = None

    @property
    def auth_mode(self) -> str:
        return self.credential.mode

    @property
    def host(self) -> str:
        """`scheme://host:port`, what Locust takes as `--host`."""
        parts = urlsplit(self.scoring_uri)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def scoring_path(self) -> str:
        parts = urlsplit(self.scoring_uri)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def headers(self, refresh: bool = True) -> AuthHeaders:
        """Every header a scoring request needs: auth (redacted in repr) plus the extra ones."""
        return AuthHeaders({**self.extra_headers, **self.credential.current_headers(refresh)})

    def __repr__(self) -> str:
        return (
            f"Target(name={self.name!r}, kind={self.kind!r}, scoring_uri={self.scoring_uri!r}, "
            f"auth_mode={self.auth_mode!r}, credential={REDACTED!r})"
        )

    __str__ = __repr__


@dataclass(frozen=True)
class OtherSide:
    """What a side-by-side gate compares the target with (`--aks-against`, `--aks-against-uri`,
    marker `against=`): the live deployment, or any other scoring URI."""

    target: Target  # its URI and every header it needs (pre-flight sends one request with them)
    deployment: str | None = None  # another deployment of the target's endpoint (routing header)
    own_credential: bool = False  # its own key (ini aks_against_key_env), not the target's

    @property
    def name(self) -> str:
        return f"deployment {self.deployment}" if self.deployment else self.target.name
