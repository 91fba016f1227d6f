"""Static checks of the WordPress plugin: every PHP file parses and PHP_CodeSniffer is clean.

These never skip: CI without php or phpcs must fail loudly rather than pass untested.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO_ROOT / "wp-plugin"
PHP_FILES = sorted(PLUGIN_DIR.rglob("*.php"))
# Plain scripts that run in the browser as written: there is no build step to catch mistakes.
BROWSER_SCRIPTS = sorted(p for p in PLUGIN_DIR.rglob("*.js") if "tests" not in p.parts)


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


@pytest.mark.parametrize("path", BROWSER_SCRIPTS, ids=lambda p: str(p.relative_to(PLUGIN_DIR)))
def test_browser_script_parses_and_never_uses_html_sinks(path: Path) -> None:
    node = require_program("node", "nodejs")
    done = subprocess.run([node, "--check", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    script = path.read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, (
            f"{path.name} uses {sink}: render untrusted text with textContent"
        )


def test_block_metadata_names_what_exists() -> None:
    """block.json is what WordPress registers the block from: its files and handles exist."""
    block_dir = PLUGIN_DIR / "blocks" / "chat"
    meta = json.loads((block_dir / "block.json").read_text())
    assert meta["name"] == "pressrag/chat" and meta["apiVersion"] == 2  # WordPress 6.1
    assert (block_dir / meta["editorScript"].removeprefix("file:./")).is_file()
    assert (block_dir / "edit.asset.php").is_file(), "script dependencies without a build step"
    chat_php = (PLUGIN_DIR / "includes" / "class-pressrag-chat.php").read_text()
    assert f"HANDLE = '{meta['editorStyle']}'" in chat_php, "the style handle the plugin registers"
    assert set(meta["attributes"]) == {"title", "placeholder", "k"}


_GETTEXT_CALL = re.compile(
    r"\b(?:__|_e|esc_html__|esc_html_e|esc_attr__|esc_attr_e)\(\s*'((?:[^'\\]|\\.)*)'\s*,\s*'pressrag'"
)


def pot_msgids(text: str) -> set[str]:
    """msgids of a .pot file, with wrapped lines joined and escapes undone."""
    found, current, in_msgid = set(), [], False
    for line in [*text.splitlines(), ""]:
        if line.startswith("msgid "):
            current, in_msgid = [line[6:]], True
        elif in_msgid and line.startswith('"'):
            current.append(line)
        elif in_msgid:
            found.add("".join(json.loads(part) for part in current))
            in_msgid = False
    return found


def test_translation_template_has_every_string() -> None:
    """languages/pressrag.pot is regenerated whenever a translatable string changes."""
    msgids = pot_msgids((PLUGIN_DIR / "languages" / "pressrag.pot").read_text())
    strings = {
        match.group(1).replace("\\'", "'")
        for path in PHP_FILES
        if "tests" not in path.relative_to(PLUGIN_DIR).parts
        for match in _GETTEXT_CALL.finditer(path.read_text())
    }
    assert len(strings) > 50
    assert sorted(strings - msgids) == [], "regenerate wp-plugin/languages/pressrag.pot"
