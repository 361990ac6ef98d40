"""Each kind of drift made on a converged host is seen by the read-only report and put back by the
next run, which touches nothing else; the user's own packages survive every correction."""

import base64
import hashlib
import io
import json
import zipfile

import pytest

from tests.lab.e2e.runner import deploy, report

ENV = "/opt/miniconda3/envs/tf21"
PIP = f"{ENV}/bin/python -m pip"


def wheel(name: str, version: str, files: dict) -> bytes:
    """A minimal pure-Python wheel, to play a student's own package or a package past its pin."""
    dist = f"{name.replace('-', '_')}-{version}.dist-info"
    files = dict(files)
    files[f"{dist}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files[f"{dist}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: gpuws-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{dist}/RECORD"] = "\n".join(record + [f"{dist}/RECORD,,"]) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buffer.getvalue()


def pip_install_wheel(lab, host: str, filename: str, data: bytes) -> None:
    encoded = base64.b64encode(data).decode()
    result = lab.exec(host, "sh", "-c", f"echo {encoded} | base64 -d > /tmp/{filename} && {PIP} install -q --no-deps /tmp/{filename}")
    assert result.returncode == 0, result.stdout + result.stderr


def pip_versions(lab, host: str) -> dict:
    out = lab.ssh(host, f"{PIP} list --format=json --disable-pip-version-check", check=True).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


def fleet() -> dict:
    out = report("--json")
    return {"rc": out.returncode, **json.loads(out.stdout)}


@pytest.fixture(scope="module")
def lab(lab_for):
    lab = lab_for("small.yaml")
    run = deploy()
    assert run.rc == 0, run.output[-3000:]
    # a student's own package, which no correction may remove
    pip_install_wheel(lab, "ws-good-driver", "student_notes-0.1-py3-none-any.whl",
                      wheel("student-notes", "0.1", {"student_notes.py": "NOTES = 1\n"}))
    return lab


def drift_and_correct(lab, host: str, break_it: str, expect_drift: str, expect_changes: set[str]):
    """Break one thing, check the report sees it, converge, check only that was corrected (and the
    verification re-run exactly when the correction changed what its fingerprint covers)."""
    broken = lab.exec(host, "sh", "-c", break_it)
    assert broken.returncode == 0, broken.stdout + broken.stderr

    seen = fleet()
    assert seen["rc"] == 1 and seen["converged"] is False
    drift = {h["name"]: h["drift"] for h in seen["hosts"]}
    assert any(expect_drift in item["step"] for item in drift[host]), drift[host]
    assert all(not items for name, items in drift.items() if name != host), drift

    run = deploy("--limit", host)
    assert run.rc == 0, run.output[-3000:]
    changed = {op.split(" | ")[-1] for op in run.changed(host)}
    assert changed == expect_changes, changed

    again = deploy("--limit", host)
    assert again.rc == 0 and again.changed(host) == [], again.changed(host)
    assert fleet()["converged"] is True


def test_package_upgraded_past_its_pin(lab):
    protobuf4 = wheel("protobuf", "4.24.4", {"google/protobuf/__init__.py": "__version__ = '4.24.4'\n"})
    pip_install_wheel(lab, "ws-good-driver", "protobuf-4.24.4-py3-none-any.whl", protobuf4)
    assert pip_versions(lab, "ws-good-driver")["protobuf"] == "4.24.4"
    drift_and_correct(lab, "ws-good-driver", "true", "Pip requirements", {"Pip requirements", "Layered GPU verification"})
    versions = pip_versions(lab, "ws-good-driver")
    assert versions["protobuf"] == "3.20.3"
    assert versions["student-notes"] == "0.1"


def test_package_removed(lab):
    drift_and_correct(lab, "ws-good-driver", f"{PIP} uninstall -y -q h5py", "Pip requirements", {"Pip requirements", "Layered GPU verification"})
    versions = pip_versions(lab, "ws-good-driver")
    assert versions["h5py"] == "2.10.0" and versions["student-notes"] == "0.1"


def test_cudnn_removed(lab):
    drift_and_correct(
        lab, "ws-conda", "/opt/miniconda3/bin/conda remove -y -q -n tf21 cudnn >/dev/null",
        "Env tf21", {"Env tf21 (python 3.7, cudatoolkit, cudnn)", "Layered GPU verification"},
    )
    assert lab.exec("ws-conda", "test", "-e", f"{ENV}/conda-meta/cudnn-7.6.5-cuda10.1_0.json").returncode == 0


def test_cudnn_library_deleted(lab):
    # the files go, conda-meta still records cudnn: the env operation sees ENV/lib in its one
    # fact read and force-reinstalls cudnn
    drift_and_correct(
        lab, "ws-conda", f"rm -f {ENV}/lib/libcudnn.so*",
        "Env tf21", {"Env tf21 (python 3.7, cudatoolkit, cudnn)", "Layered GPU verification"},
    )
    assert lab.exec("ws-conda", "test", "-e", f"{ENV}/lib/libcudnn.so.7").returncode == 0


def test_activation_hook_removed(lab):
    drift_and_correct(
        lab, "ws-good-driver", f"rm -f {ENV}/etc/conda/activate.d/gpuws-cuda.sh",
        "CUDA activation hook", {"CUDA activation hook"},
    )


def test_conda_config_changed(lab):
    drift_and_correct(
        lab, "ws-conda", "printf 'channels:\\n  - conda-forge\\n' > /opt/miniconda3/.condarc",
        ".condarc", {"Conda channels (.condarc)"},
    )


def test_env_deleted(lab):
    drift_and_correct(
        lab, "ws-old-driver", f"rm -rf {ENV}", "Env tf21",
        {"Env tf21 (python 3.7, cudatoolkit, cudnn)", "Env pip config", "Pip requirements", "CUDA activation hook", "Layered GPU verification"},
    )


def test_driver_upgraded_without_reboot(lab):
    drift_and_correct(
        lab, "ws-good-driver",
        "apt-mark unhold $(apt-mark showhold) >/dev/null && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-change-held-packages nvidia-driver-550 >/dev/null "
        "&& apt-mark hold nvidia-driver-550 >/dev/null",  # upgraded and held by hand: only the reboot is missing
        "Running driver", {"Running driver (reboot if needed)", "Layered GPU verification"},
    )
    smi = lab.ssh("ws-good-driver", "nvidia-smi --query-gpu=driver_version --format=csv,noheader", check=True)
    assert smi.stdout.strip() == "550.127.05"
    assert pip_versions(lab, "ws-good-driver")["student-notes"] == "0.1"


def test_driver_downgraded_below_the_minimum(lab):
    drift_and_correct(
        lab, "ws-old-driver",
        "apt-mark unhold $(apt-mark showhold) >/dev/null && DEBIAN_FRONTEND=noninteractive "
        "apt-get install -y -q --allow-downgrades nvidia-driver-410 >/dev/null",
        # the packages' own scripts flagged /run/reboot-required when 410 went in: the deploy
        # honours that flag after putting 580 back, as the distro asks. The same 580 module is loaded
        # again and a lab host shares the lab kernel's boot_id (a real reboot gives a new one), so
        # the fingerprint is the verified one: no re-verification here
        "Driver >= 418.96", {"Driver >= 418.96", "Running driver (reboot if needed)"},
    )
    packages = lab.ssh("ws-old-driver", "dpkg-query -W -f '${Package} ${Status}\\n' 'nvidia-driver-*'", check=True).stdout
    assert "nvidia-driver-580 hold ok installed" in packages  # back, and held again
