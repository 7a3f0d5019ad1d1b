"""The wheel holds every mapped package and data file; nothing imports the bare folders."""

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAPPED = ("devices", "plans", "simulators", "analysis", "rigs")


def _pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_package_folder_is_listed_in_pyproject():
    tool = _pyproject()["tool"]["setuptools"]
    listed = set(tool["packages"])
    mapping = tool["package-dir"]
    on_disk = set()
    for package, folder in mapping.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder)
            on_disk.add(".".join([package, *relative.parts]))
    assert on_disk <= listed, (
        f"not listed in pyproject (the wheel would drop them): {on_disk - listed}"
    )


@pytest.mark.timeout(300)
def test_wheel_contains_every_package_and_data_file(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=280,
    )
    (wheel,) = tmp_path.glob("ionrig-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    tool = _pyproject()["tool"]["setuptools"]
    for package, folder in tool["package-dir"].items():
        source = REPO / folder
        for file in source.rglob("*"):
            if "__pycache__" in file.parts or not file.is_file():
                continue
            if file.suffix not in (".py", ".yaml"):
                continue
            if any(p in file.relative_to(source).parts for p in ("tests",)):
                continue
            target = "/".join([*package.split("."), *file.relative_to(source).parts])
            assert target in names, f"{target} is missing from the wheel"
    assert "ionrig/rigs/sim.yaml" in names


BARE = re.compile(rf"^\s*(from|import)\s+({'|'.join(MAPPED)})(\s|\.|$)", re.MULTILINE)


def test_no_bare_imports_of_mapped_folders():
    offenders = []
    for folder in (*MAPPED, "src", "tests"):
        for file in (REPO / folder).rglob("*.py"):
            for match in BARE.finditer(file.read_text()):
                offenders.append(f"{file.relative_to(REPO)}: {match.group(0).strip()}")
    assert not offenders, "import these through ionrig.*: " + "; ".join(offenders)


def _readme_python_example() -> str:
    text = (REPO / "README.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    return example


@pytest.mark.timeout(180)
def test_the_readme_example_runs_in_ipython_from_the_repository_root(tmp_path):
    """A scientist who has just cloned and installed starts IPython where they are: in the
    clone's root. Nothing there may shadow the installed package."""
    code = _readme_python_example() + "\nprint(len(data.pair_t_s) == 10)\nsession.close()\n"
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=nocolor", "-c", code],
        cwd=REPO,
        env={**os.environ, "IONRIG_DATA": str(tmp_path / "data"), "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "True", done.stdout[-2000:]
