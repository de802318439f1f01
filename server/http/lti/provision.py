"""What an LTI launch makes in Vigil: the proctor account of an LMS Instructor, the exam of a resource link.

An Instructor's proctor account is found by its e-mail, `lti-<digest>@lti.invalid`, a digest of the
issuer, client id and LMS user id: the same LMS user always lands on the same account, on any worker,
and two launches racing to make it end on one (the second create is a 409: it reads the first's). The
account has a random password nobody knows: its only way in is a launch. An LMS e-mail is never used
to find an account: a platform could assert an admin's.

An exam is made per resource link (issuer, client, deployment, context, link) on its first launch,
owned by the launching Instructor or, for a Learner who comes first, by the Instructor who attached
proctoring through deep linking (the link's signed custom parameter, `claims.proctor_from_claim`).
A link nobody owns yet refuses a Learner with a 409 saying what to do.
"""
from __future__ import annotations

import secrets

from server.accounts.auth import User
from server.accounts.exams import Exams
from server.accounts.users import Accounts
from server.http.lti.claims import Launch, proctor_from_claim
from server.protocol.errors import ApiError
from server.store.lti_records import LtiRecords

EMAIL_DOMAIN = "lti.invalid"
PROCTOR_ROLES = ("proctor", "admin")


def proctor_email(launch: Launch) -> str:
    return f"lti-{launch.user_digest}@{EMAIL_DOMAIN}"


async def proctor_account(accounts: Accounts, launch: Launch, now: float) -> User:
    """The proctor account of the launch's Instructor, made on their first launch."""
    email = proctor_email(launch)
    try:
        return await accounts.create_user(email, secrets.token_urlsafe(32), "proctor", now)
    except ApiError as exc:
        if exc.status != 409:
            raise
    user_id = await accounts.records.user_id_for_email(email)
    user = await accounts.get_user(user_id) if user_id else None
    if user is None or user.role not in PROCTOR_ROLES:
        raise ApiError(403, "this LMS user's Vigil account is not a proctor's any more")
    return user


async def exam_for_link(exams: Exams, records: LtiRecords, accounts: Accounts, launch: Launch,
                        instructor: User | None, secret: str, now: float) -> str:
    """The resource link's exam, made on its first launch (see the module docstring for its owner)."""
    exam_id = await records.exam_for_link(launch.link_digest)
    if exam_id is not None:
        return exam_id
    owner = instructor
    if owner is None:
        attached_by = proctor_from_claim(secret, launch)
        owner = await accounts.get_user(attached_by) if attached_by else None
    if owner is None or owner.role not in PROCTOR_ROLES:
        raise ApiError(409, "proctoring of this activity is not set up yet: its instructor opens it once "
                            "(or adds it through the LMS's Vigil content picker) before candidates start")
    created = await exams.create(owner, launch.exam_title, None, now)
    return await records.claim_link(launch.link_digest, created["exam_id"])
