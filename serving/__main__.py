"""`python -m pressrag.serving [--host H] [--port P]`: run the API with uvicorn
(127.0.0.1 by default).

`pressrag serve` runs exactly this. Host and port default to `PRESSRAG_HOST` /
`PRESSRAG_PORT` (127.0.0.1:8000); logs go through the redacting filter.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from pressrag.resources.database import require_database
from pressrag.resources.errors import ConfigError
from pressrag.resources.settings import get_settings
from pressrag.serving.logs import log_config
from pressrag.serving.settings import get_serving_settings


def main(argv: list[str] | None = None) -> None:
    settings = get_serving_settings()
    parser = argparse.ArgumentParser(prog="python -m pressrag.serving", description=__doc__)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--log-level", default=os.environ.get("PRESSRAG_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    try:  # a replica without a database must not start and answer 503 for ever
        require_database(get_settings())
    except ConfigError as exc:
        print(f"python -m pressrag.serving: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    trusted = settings.trusted_proxies.strip() or os.environ.get("FORWARDED_ALLOW_IPS", "")
    uvicorn.run(
        "pressrag.serving.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_config=log_config(args.log_level.upper()),
        log_level=args.log_level.lower(),
        server_header=False,
        # X-Forwarded-For names the visitor only when it comes from a configured proxy
        # (PRESSRAG_TRUSTED_PROXIES, or uvicorn's own FORWARDED_ALLOW_IPS); else it is ignored.
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
