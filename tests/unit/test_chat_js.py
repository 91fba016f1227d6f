"""The chat script's behaviour tests (wp-plugin/tests/js, Node's built-in runner) pass.

Node is required, not optional: CI without it must fail rather than skip the browser code.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
JS_TESTS = REPO_ROOT / "wp-plugin" / "tests" / "js"


def test_chat_js_behaviour() -> None:
    node = shutil.which("node")
    assert node, "node not found: install Debian's nodejs (>= 20) to test wp-plugin/assets/chat.js"
    done = subprocess.run(
        [node, "--test", *sorted(str(p) for p in JS_TESTS.glob("*.test.mjs"))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
    passed = int(done.stdout.split("# pass ")[1].split()[0])
    assert passed >= 18, done.stdout[-2000:]
