"""TLS for Locust users in the child: verify the endpoint's certificate like pre-flight does.

Locust's FastHttpUser skips certificate checks by default; a gate must not send its key to an
endpoint pre-flight would have refused. A user verifies with::

    from pytest_aksload._locust.tls import ssl_context_factory

    class Scorer(FastHttpUser):
        insecure = False
        ssl_context_factory = staticmethod(ssl_context_factory)

Child only (it imports gevent); `pytest_aksload.child` holds what the pytest process may import.
"""

from __future__ import annotations

import gevent.ssl

from pytest_aksload import child


def ssl_context_factory(cafile: str | None = None) -> gevent.ssl.SSLContext:
    """A verifying TLS context for FastHttpUser: trusts the run's CA bundle (--aks-ca-bundle)
    when one was given, else `cafile` (geventhttpclient passes its default CA file)."""
    return gevent.ssl.create_default_context(cafile=child.ca_bundle() or cafile)
