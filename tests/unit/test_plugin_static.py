"""Static checks of the WordPress plugin: every PHP file parses and PHP_CodeSniffer is clean.

These never skip: CI without php or phpcs must fail loudly rather than pass untested.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO_ROOT / "wp-plugin"
PHP_FILES = sorted(PLUGIN_DIR.rglob("*.php"))


def require_program(name: str, package: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} not found: install Debian's {package} (these checks must not skip)"
    return found


def test_plugin_has_php_files() -> None:
    assert PLUGIN_DIR / "pressrag.php" in PHP_FILES
    assert PLUGIN_DIR / "uninstall.php" in PHP_FILES


@pytest.mark.parametrize("path", PHP_FILES, ids=lambda p: str(p.relative_to(PLUGIN_DIR)))
def test_php_file_parses(path: Path) -> None:
    """One case per file so a syntax error names its file."""
    php = require_program("php", "php-cli")
    done = subprocess.run([php, "-l", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_phpcs_is_clean() -> None:
    phpcs = require_program("phpcs", "php-codesniffer")
    done = subprocess.run(
        [phpcs, "--standard=phpcs.xml.dist", "--no-colors", "-q", "--report=full"],
        cwd=PLUGIN_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr


def test_chat_script_never_uses_inner_html() -> None:
    script = (PLUGIN_DIR / "assets" / "chat.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in script, f"chat.js uses {sink}: render untrusted text with textContent"
