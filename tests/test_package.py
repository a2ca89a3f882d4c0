"""The wheel ships the grammar and the knowledge base: install it in a fresh venv and run it."""
import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from support import EXAMPLES, ROOT


@pytest.mark.slow
def test_wheel_installs_and_runs_with_the_shipped_kb(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = dist.glob("oncologic-*.whl")
    import zipfile
    names = zipfile.ZipFile(wheel).namelist()
    assert "oncologic/grammar/oncologic.lark" in names
    assert "oncologic/facts/lung/sclc.rules" in names and "oncologic/facts/common/drugs.rules" in names
    shipped = {"oncologic/facts/" + p.relative_to(ROOT / "facts").as_posix() for p in (ROOT / "facts").rglob("*.rules")}
    assert shipped <= set(names), "a facts/ folder is missing from pyproject's packages"  # every rule file
    assert {"oncologic/report/messages/en.json", "oncologic/report/messages/zh.json"} <= set(names)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    outside = tmp_path / "elsewhere"  # away from the checkout, so the installed copy is used
    outside.mkdir()
    # the dependencies come from this interpreter's site-packages (no network); the checkout's
    # editable install is not visible there, because PYTHONPATH entries do not process .pth files
    import pyDatalog
    deps = str(Path(pyDatalog.__file__).resolve().parent.parent)
    env = {"PATH": str(env_dir / "bin"), "ONCOLOGIC_NO_CACHE": "1", "PYTHONPATH": deps}
    check = subprocess.run([str(env_dir / "bin" / "oncologic"), "check"], capture_output=True, text=True, cwd=outside, env=env)
    assert check.returncode == 0 and check.stdout.startswith("ok:"), check.stderr
    where = subprocess.run([str(python), "-c", "import oncologic, oncologic.resources as r; print(r.default_kb_dir())"],
                           capture_output=True, text=True, cwd=outside, env=env, check=True).stdout.strip()
    assert Path(where).parts[-2:] == ("oncologic", "facts") and where.startswith(str(env_dir))
    rec = subprocess.run([str(env_dir / "bin" / "oncologic"), "recommend", str(EXAMPLES / "sclc_second_line.json"),
                          "--format", "json"], capture_output=True, text=True, cwd=outside,
                         env=env)
    assert rec.returncode == 0 and "topotecan" in {r["id"] for r in json.loads(rec.stdout)["recommendations"]}
    # the rule tests ship beside the rules and need nothing outside the package (no examples/)
    rule_tests = {"oncologic/facts/" + p.relative_to(ROOT / "facts").as_posix() for p in (ROOT / "facts").rglob("*.tests.yaml")}
    assert rule_tests and rule_tests <= set(names)
    ran = subprocess.run([str(env_dir / "bin" / "oncologic"), "test", "--coverage-required"], capture_output=True,
                         text=True, cwd=outside, env=env)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr
    last = ran.stdout.splitlines()[-1]
    assert last.endswith(" passed, 0 failed") and ran.stdout.startswith("facts/hcc/"), ran.stdout
