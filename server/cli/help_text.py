"""What `vigil`'s help says of the environment: the settings (from their declarations in
`server.core.config`) and, for the commands that write to Redis, where that Redis is."""
from __future__ import annotations

from server.core.config import setting_docs


def settings_help() -> str:
    """The environment variables, for `vigil serve --help` (from the declarations in `server.core.config`)."""
    lines = ["environment variables (over a .env file in the working directory; command-line options "
             "override VIGIL_HOST and VIGIL_PORT):"]
    for doc in setting_docs():
        lines.append(f"  {doc.variable:<26} {doc.meaning.replace('`', '')} (default: {doc.default.replace('`', '')})")
    return "\n".join(lines)


#: what the commands that write to Redis (user, apikey, token) say of their environment
STORE_ENV = ("The server's Redis: REDIS_URL, or when unset the embedded Valkey of VIGIL_DATA_DIR (attached to "
             "while `vigil serve` runs, else started for the command).")
STORE_ENV_EPILOG = "\n".join([
    "environment variables (over a .env file in the working directory):",
    "  REDIS_URL                  Redis/Valkey URL; unset: the embedded Valkey of VIGIL_DATA_DIR",
    "  VIGIL_DATA_DIR             data directory (embedded Valkey, generated secrets; default ./var)",
    "  VIGIL_ENV                  dev or production (production needs VIGIL_JWT_SECRET)",
    "  VIGIL_JWT_SECRET(_FILE)    the server's signing secret (API keys and join tokens are signed with it)",
])
