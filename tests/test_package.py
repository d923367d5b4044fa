"""The package as `pip install .` ships it: built into a wheel, installed into a fresh venv and run
from another folder, the way pipx, Docker and every deployment run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a source checkout holds besides the package; the copy that is built leaves it out.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "tests", "bench"
)

pytestmark = pytest.mark.installed


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin` folder of a fresh venv with only the built wheel installed in it.

    The wheel's dependencies come from this venv's site-packages (a `.pth` line), so nothing is
    downloaded; the package itself (bot, adapters, content) only from the wheel."""
    work = tmp_path_factory.mktemp("package")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    dist = work / "dist"
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(dist), str(source)], check=True, timeout=120)
    wheel = next(dist.glob("kneebot-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    install = [*pip, "--python", str(python), "install", "--no-deps", str(wheel)]
    subprocess.run(install, check=True, timeout=60)
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    (site / "kneebot-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin"


def _run(
    bin_: Path, tmp_path: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KNEEBOT_", "PYTHON"))}
    return subprocess.run(
        [str(bin_ / "kneebot"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**clean, "KNEEBOT_STORE": "memory://", **env},
    )


def test_the_package_comes_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [str(installed / "python"), "-c", "import bot, content; print(bot.__file__, *content.__path__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout.split()  # fmt: skip
    assert all(Path(path).is_relative_to(installed.parent) for path in where), where


@pytest.mark.parametrize("how", ["--locale", "KNEEBOT_LOCALE"])
def test_the_installed_bot_speaks_spanish_from_another_folder(
    installed: Path, tmp_path: Path, how: str
) -> None:
    args, env = (["--locale", "es"], {}) if how == "--locale" else ([], {"KNEEBOT_LOCALE": "es"})
    done = _run(
        installed, tmp_path, "chat", "--json", "--user", "runner", *args,
        stdin=json.dumps({"text": "vale, empezamos"}) + "\n", **env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    start, question = (json.loads(line) for line in done.stdout.splitlines())
    assert start["text"].startswith("Hola, soy **kneebot**")
    assert question["fact"] == "red_flags"
    assert "¿Te pasa **ahora mismo**" in question["text"]
    assert "Ninguna de estas" in [choice["label"] for choice in question["choices"]]


def test_the_installed_content_check_names_both_languages(installed: Path, tmp_path: Path) -> None:
    done = _run(installed, tmp_path, "content", "check")
    assert done.returncode == 0, done.stderr
    assert "content ok" in done.stdout
    assert "languages: en, es" in done.stdout
