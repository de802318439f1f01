"""The commands that write straight to the server's Redis: `vigil user add`, `vigil apikey ...` and
`vigil token create`; an unreachable Redis is a `CliError`, an API error exits 1 (`_with_store`)."""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from server.cli.checks import CliError, settings_from_env
from server.cli.help_text import STORE_ENV, STORE_ENV_EPILOG
from server.core.config import Settings, redact_url

if TYPE_CHECKING:
    from server.store.store import Store

def new_password(args: argparse.Namespace) -> str:
    """The new account's password: `--password`, `--password-stdin` (the first line of stdin),
    VIGIL_USER_PASSWORD, else typed twice at a terminal. Piped stdin never reaches the prompt (getpass
    would read the pipe, then die on its end): it is a `CliError` that names `--password-stdin`."""
    import getpass

    if args.password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise CliError("--password-stdin: stdin gave no password (one line expected)")
        return line
    password = args.password or os.environ.get("VIGIL_USER_PASSWORD")
    if password:
        return password
    if not sys.stdin.isatty():
        raise CliError("no password: stdin is not a terminal to prompt on; pipe it with --password-stdin "
                       "or set VIGIL_USER_PASSWORD")
    try:
        password = getpass.getpass(f"password for {args.email}: ")
        if getpass.getpass("again: ") != password:
            raise CliError("passwords differ")
    except (EOFError, KeyboardInterrupt):
        raise CliError("no password given") from None
    return password


def cmd_user_add(args: argparse.Namespace) -> int:
    """`vigil user add`: an account of any role, written straight to Redis (embedded Valkey when unset)."""
    from server.accounts.users import Accounts

    password = new_password(args)

    async def add(store: Store, _settings: Settings) -> str:
        user = await Accounts(store.accounts, secret="").create_user(args.email, password, args.role)
        return f"created {user.role} {user.email} (user id {user.user_id})"

    return _with_store(add)


def _with_store(run: Callable[[Store, Settings], Awaitable[str]]) -> int:
    """Run `run(store, settings)` against the server's Redis (the running embedded Valkey when
    REDIS_URL is unset: attached, never a second one) and print its answer; an unreachable Redis is
    a `CliError`, an API error is printed and exits 1, a refused setting exits 2."""
    from server.protocol.errors import ApiError
    from server.store.embedded import redis_for
    from server.store.store import Store

    settings = settings_from_env()

    async def main(redis_url: str) -> str:
        store = Store(redis_url)
        try:
            if not await store.ping():
                raise CliError(f"cannot reach Redis at {redact_url(redis_url)} (REDIS_URL)")
            return await run(store, settings)
        finally:
            await store.close()

    try:
        with redis_for(settings.redis_url, settings.data_dir) as redis_url:
            print(asyncio.run(main(redis_url)))
    except ApiError as exc:
        print(f"vigil: {exc.error}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:  # e.g. production without VIGIL_JWT_SECRET, a data dir not writable
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_apikey(args: argparse.Namespace) -> int:
    """`vigil apikey create|list|revoke`: integrators' API keys (docs/integration.md)."""
    import json
    import time

    from server.accounts.apikeys import ApiKeys
    from server.accounts.secrets import signing_secret

    async def run(store: Store, settings: Settings) -> str:
        keys = ApiKeys(store.apikeys, store.exams, signing_secret(settings))
        if args.apikey_command == "create":
            made = await keys.create(args.name, args.exam, "cli", time.time())
            return (f"created API key {made['key_id']} for exams {', '.join(made['exams'])}; "
                    f"the key is shown once:\n{made['key']}")
        if args.apikey_command == "revoke":
            return f"revoked {(await keys.revoke(args.key_id, time.time()))['key_id']}"
        return "\n".join(json.dumps(row) for row in await keys.listing()) or "no API keys"

    return _with_store(run)


def cmd_token_create(args: argparse.Namespace) -> int:
    """`vigil token create`: a join token for one candidate, minted with an active API key's scope."""
    import time

    from server.accounts.apikeys import ApiKeys
    from server.accounts.join_tokens import JoinTokens
    from server.accounts.secrets import signing_secret
    from server.protocol.errors import ApiError

    async def run(store: Store, settings: Settings) -> str:
        secret = signing_secret(settings)
        keys = ApiKeys(store.apikeys, store.exams, secret)
        key = await keys.active(args.key)
        if key is None:
            raise ApiError(404, f"no active API key {args.key}")
        return str(JoinTokens(secret, keys).issue(key, args.exam, args.candidate_id, args.ttl, time.time())["join_token"])

    return _with_store(run)


def add_integration_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`vigil apikey ...` and `vigil token create`."""
    apikey = sub.add_parser(
        "apikey", help="integrators' API keys", description=f"Create, list and revoke integrators' API keys "
        f"(docs/integration.md), written straight to Redis. {STORE_ENV}", epilog=STORE_ENV_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter).add_subparsers(dest="apikey_command", required=True)
    create = apikey.add_parser("create", help="a key scoped to exams; its secret is printed once")
    create.add_argument("--name", required=True)
    create.add_argument("--exam", required=True, action="append", help="an exam id it may use (repeat for several)")
    apikey.add_parser("list", help="every key, one JSON line each, without secrets")
    revoke = apikey.add_parser("revoke", help="revoke a key (its join tokens stop working too)")
    revoke.add_argument("key_id")
    for parser in (create, revoke, apikey.choices["list"]):
        parser.set_defaults(func=cmd_apikey)
    token = sub.add_parser(
        "token", help="join tokens for scripts", description=f"Mint a single-use join token for one candidate "
        f"with an active API key's scope, signed with the server's secret. {STORE_ENV}", epilog=STORE_ENV_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter).add_subparsers(dest="token_command", required=True)
    mint = token.add_parser("create", help="a single-use join token for one candidate (printed)")
    mint.add_argument("--key", required=True, help="id of an active API key scoped to the exam")
    mint.add_argument("--exam", required=True)
    mint.add_argument("--candidate-id", required=True)
    mint.add_argument("--ttl", type=int, default=300, help="seconds it stays valid (at most 3600)")
    mint.set_defaults(func=cmd_token_create)
