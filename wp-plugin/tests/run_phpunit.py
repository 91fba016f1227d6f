"""Bring up a private WordPress, activate PressRAG and run the plugin's PHPUnit suite.

Usage (from anywhere): ``wp-plugin/tests/run.sh [--workdir DIR] [-- PHPUNIT ARGS...]``.
The exit code is PHPUnit's. Used by tests/e2e/test_plugin_phpunit.py so CI runs the suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO_ROOT / "wp-plugin"
sys.path.insert(0, str(REPO_ROOT))

from tests.support.wordpress import WORDPRESS_ROOT, WordPress  # noqa: E402


def phpunit_env(wordpress: WordPress) -> dict[str, str]:
    """Environment the PHPUnit bootstrap reads to load this WordPress."""
    return {
        **os.environ,
        "WP_ROOT": str(WORDPRESS_ROOT),
        "WP_HOST": f"127.0.0.1:{wordpress.port}",
        # Debian's wp-config.php picks the instance's config by this name (see the harness).
        "WORDPRESS_CONFIG": wordpress._config_name,
        "PRESSRAG_VECTORS_DIR": str(REPO_ROOT / "tests" / "vectors"),
    }


def run(workdir: Path, phpunit_args: list[str]) -> int:
    """Start WordPress in ``workdir``, activate the plugin, run PHPUnit; return its exit code."""
    phpunit = shutil.which("phpunit")
    if phpunit is None:
        raise SystemExit("phpunit not found: install Debian's phpunit package")
    with WordPress(workdir) as wordpress:
        wordpress.activate_plugin(PLUGIN_DIR, "pressrag.php")
        done = subprocess.run(
            [phpunit, "--configuration", str(PLUGIN_DIR / "phpunit.xml.dist"), *phpunit_args],
            cwd=PLUGIN_DIR,
            env=phpunit_env(wordpress),
            check=False,
        )
        return done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="WordPress work folder")
    parser.add_argument("phpunit_args", nargs="*", help="extra PHPUnit arguments (after --)")
    args = parser.parse_args(argv)
    if args.workdir is not None:
        return run(args.workdir, args.phpunit_args)
    with tempfile.TemporaryDirectory(prefix="pressrag-phpunit-") as tmp:
        return run(Path(tmp) / "wp", args.phpunit_args)


if __name__ == "__main__":
    sys.exit(main())
