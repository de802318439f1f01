"""What Vigil reads in a validated LTI 1.3 launch (the id_token's claims), as plain data: pure, no I/O.

Roles: an `Instructor` (or an administrator of the context or the institution) proctors the context's
exam; a `Learner` is a candidate. A launch carrying both is an instructor's (a teacher previewing as a
student is still the teacher). Any other role (a mentor, an observer) is refused.

Identity: a Learner's session speaks for the LMS user, `lti:<platform>:<candidate_id>` (`identity_of`),
like an API key's candidate (`apikey:<key_id>:<candidate_id>`): screen info and calibrations are shared
by that user's sessions launched from the same platform, never with a join-code session typing the
same id. `<platform>` is a digest of the issuer and client id, so two LMSs' user "42" stay apart.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from server.protocol.http import ID_PATTERN

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = CLAIM + "message_type"
DEPLOYMENT_ID = CLAIM + "deployment_id"
ROLES = CLAIM + "roles"
CONTEXT = CLAIM + "context"
RESOURCE_LINK = CLAIM + "resource_link"
CUSTOM = CLAIM + "custom"
RESOURCE_LAUNCH = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
DEEP_LINKING_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
IDENTITY_SCHEME = "lti:"
#: the custom parameter a deep-linking response sets on the link it creates: the proctor who attached
#: it, signed (`proctor_claim`), so the link's first launch, even a Learner's, makes the exam theirs
PROCTOR_PARAM = "vigil_proctor"

Role = Literal["instructor", "learner"]
_INSTRUCTOR = re.compile(r"(membership#Instructor|membership#Administrator|institution/person#Administrator"
                         r"|system/person#Administrator|^Instructor$)")
_LEARNER = re.compile(r"(membership#Learner|^Learner$)")


def role_of(roles: Iterable[str]) -> Role | None:
    """The Vigil side of an LMS user's roles in the context; None for a role Vigil has no place for."""
    listed = [r for r in roles if isinstance(r, str)]
    if any(_INSTRUCTOR.search(r) for r in listed):
        return "instructor"
    if any(_LEARNER.search(r) for r in listed):
        return "learner"
    return None


def _digest(*parts: str) -> str:
    # a separator that cannot appear in a part's own encoding keeps ("a", "bc") and ("ab", "c") apart
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def candidate_id_of(subject: str) -> str:
    """The LMS user id as a Vigil candidate id: itself when it is one, else a digest of it."""
    return subject if re.match(ID_PATTERN, subject) else "lti-" + _digest(subject)


@dataclass(frozen=True)
class Launch:
    """The claims of one validated launch that Vigil acts on."""

    issuer: str
    client_id: str
    deployment_id: str
    message_type: str
    subject: str
    name: str
    roles: tuple[str, ...]
    context_id: str
    context_title: str
    resource_link_id: str
    resource_link_title: str
    custom: Mapping[str, str]
    nonce: str

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Launch:
        aud = body.get("aud")
        client_id = aud[0] if isinstance(aud, list) and aud else aud
        context = body.get(CONTEXT) or {}
        link = body.get(RESOURCE_LINK) or {}
        custom = body.get(CUSTOM) or {}
        return cls(
            issuer=str(body.get("iss") or ""), client_id=str(client_id or ""),
            deployment_id=str(body.get(DEPLOYMENT_ID) or ""), message_type=str(body.get(MESSAGE_TYPE) or ""),
            subject=str(body.get("sub") or ""),
            name=str(body.get("name") or body.get("given_name") or body.get("sub") or ""),
            roles=tuple(r for r in body.get(ROLES) or () if isinstance(r, str)),
            context_id=str(context.get("id") or ""), context_title=str(context.get("title") or ""),
            resource_link_id=str(link.get("id") or ""), resource_link_title=str(link.get("title") or ""),
            custom={str(k): str(v) for k, v in custom.items()} if isinstance(custom, dict) else {},
            nonce=str(body.get("nonce") or ""))

    @property
    def role(self) -> Role | None:
        return role_of(self.roles)

    @property
    def platform(self) -> str:
        """The LMS registration (issuer and client id), as a short digest."""
        return _digest(self.issuer, self.client_id)[:16]

    @property
    def candidate_id(self) -> str:
        return candidate_id_of(self.subject)

    @property
    def identity(self) -> str:
        """The identity a Learner's session asserts (`server.store.keys.document_owner`)."""
        return f"{IDENTITY_SCHEME}{self.platform}:{self.candidate_id}"

    @property
    def user_digest(self) -> str:
        """The LMS user, for the map to their proctor account."""
        return _digest(self.issuer, self.client_id, self.subject)

    @property
    def link_digest(self) -> str:
        """The resource link within its context and deployment: one exam each."""
        return _digest(self.issuer, self.client_id, self.deployment_id, self.context_id, self.resource_link_id)

    @property
    def exam_title(self) -> str:
        title = " - ".join(t for t in (self.context_title, self.resource_link_title) if t)
        return (title or "LTI activity " + self.resource_link_id)[:200]


def proctor_claim(secret: str, launch: Launch, user_id: str) -> str:
    """`<user_id>.<mac>`: the proctor who attached proctoring in `launch`'s context, for the link's custom
    parameters. The MAC binds it to the platform and context, so an LMS user who edits custom parameters
    can neither name another proctor nor carry the value to another course."""
    mac = hmac.new(secret.encode(), _digest("lti proctor", launch.platform, launch.context_id, user_id).encode(),
                   hashlib.sha256).hexdigest()[:32]
    return f"{user_id}.{mac}"


def proctor_from_claim(secret: str, launch: Launch) -> str | None:
    """The proctor's user id a launch's signed custom parameter names, if it is genuine for its context."""
    value = launch.custom.get(PROCTOR_PARAM, "")
    user_id, _, _mac = value.partition(".")
    if not user_id or not hmac.compare_digest(proctor_claim(secret, launch, user_id), value):
        return None
    return user_id
