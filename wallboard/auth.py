"""Who is looking: bearer-token or basic authentication, and the tenants each credential reads.

With no `[[wallboard.access]]` entry the wallboard is open (and binds to loopback by default).
With entries, every page, stream and API request must carry one of them: `Authorization:
Bearer <token>` (or `?access_token=<token>`, since a browser's EventSource cannot set headers)
or `Authorization: Basic`. A credential reads only its tenants.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.requests import Request

from ccpulse.wallboard.settings import Access, WallboardSettings


@dataclass(frozen=True, slots=True)
class Viewer:
    """An authenticated reader: the tenants it may read (None: every tenant)."""

    tenants: frozenset[str] | None

    def reads(self, tenant: str) -> bool:
        return self.tenants is None or tenant in self.tenants

    def check(self, tenant: str) -> None:
        """403 for a tenant this viewer may not read (whether or not it exists)."""
        if not self.reads(tenant):
            raise HTTPException(403, f"this credential may not read tenant {tenant!r}")


def _viewer(entry: Access) -> Viewer:
    return Viewer(None if "*" in entry.tenants else frozenset(entry.tenants))


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def authenticate(request: Request, settings: WallboardSettings) -> Viewer:
    """The viewer of a request, or 401 with the schemes accepted."""
    if not settings.access:
        return Viewer(None)
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else ""
    token = token or request.query_params.get("access_token", "")
    if token:
        for entry in settings.access:
            if entry.token and _same(token, entry.token):
                return _viewer(entry)
    elif scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise HTTPException(400, "malformed basic credentials") from None
        for entry in settings.access:
            if entry.username and _same(user, entry.username) and _same(password, entry.password):
                return _viewer(entry)
    schemes = []
    if any(e.username for e in settings.access):
        schemes.append('Basic realm="ccpulse wallboard", charset="UTF-8"')
    if any(e.token for e in settings.access):
        schemes.append('Bearer realm="ccpulse wallboard"')
    raise HTTPException(401, "authentication required", {"WWW-Authenticate": ", ".join(schemes)})
