"""One offline bundle of the real tf21 stack serves three lab hosts with the lab mirror stopped; the
real TensorFlow 2.1.0 then imports, computes on the CPU, saves and loads a Keras .h5 model and
builds an LSTM (the stack's pins at work), and the verification names the missing driver."""

import json
import re
import subprocess

import pytest
from packaging.version import Version

from deploys import bundle_manifest as manifest
from tests.lab.e2e.runner import deploy
from tests.lab.realwheel.conftest import build_bundle

ENV = "/opt/miniconda3/envs/tf21"
TF_GPU_210_SHA256 = "1e3e407b310e615bc63afc34b64157895a64181e1aebf9013f265f56fba04b79"  # https://pypi.org/project/tensorflow-gpu/2.1.0/#files
HOSTS = ("ws-off1", "ws-off2", "ws-off3")


def test_bundle_holds_the_real_wheels_at_their_pins(tf21_bundle):
    data = manifest.load(tf21_bundle)
    wheels = {entry["name"]: entry for entry in manifest.files(data, "wheel")}
    assert wheels["tensorflow-gpu"]["sha256"] == TF_GPU_210_SHA256
    assert wheels["gast"]["version"] == "0.2.2" and wheels["gast"]["built_from"] == "sdists/gast-0.2.2.tar.gz"
    assert Version(wheels["protobuf"]["version"]) < Version("3.21")
    assert Version(wheels["h5py"]["version"]) < Version("3")
    assert Version(wheels["numpy"]["version"]) < Version("1.20")
    assert wheels["scipy"]["version"] == "1.4.1"
    conda = {entry["name"]: entry for entry in manifest.files(data, "conda")}
    assert (conda["cudatoolkit"]["version"], conda["cudatoolkit"]["build"]) == ("10.1.243", "h6bb024c_0")
    assert (conda["cudnn"]["version"], conda["cudnn"]["build"]) == ("7.6.5", "cuda10.1_0")
    assert manifest.verify(tf21_bundle) == []


def test_second_build_downloads_nothing(tf21_bundle, lab_channel):
    again = build_bundle(lab_channel, tf21_bundle)
    assert again.returncode == 0, again.stderr
    assert "0 fetched or built, 0 B downloaded" in again.stdout


@pytest.fixture(scope="module")
def offline_lab(lab_for, tf21_bundle):
    lab = lab_for("offline3.yaml", fresh=HOSTS)
    with lab.mirror_stopped():  # the bundle must be the hosts' only package source
        first = deploy("--data", f"bundle={tf21_bundle}", "--data", "verify_gpu=False", timeout=1800)
        second = deploy("--data", f"bundle={tf21_bundle}", "--data", "verify_gpu=False", timeout=1800)
    return lab, first, second


def test_three_hosts_install_from_one_bundle(offline_lab, tf21_bundle):
    lab, run, _ = offline_lab
    assert run.rc == 0, run.output[-4000:]
    for host in HOSTS:
        assert run.status("Bundle on the host", host) == "Success"
        assert run.status("Pip requirements", host) == "Success"
    upstream = manifest.upstream_bytes(manifest.load(tf21_bundle))
    printed = re.findall(r"upstream bytes fetched for the whole fleet: (\d+)", run.output)
    assert printed == [str(upstream)]  # one bundle for the fleet, printed once
    print(f"\noffline install of 3 hosts: {run.seconds:.0f} s; upstream bytes for the fleet: {upstream}")
    condarc = lab.ssh("ws-off2", "cat /opt/miniconda3/.condarc", check=True).stdout
    assert "file:///var/cache/gpuws/bundle/conda" in condarc
    pip_conf = lab.ssh("ws-off2", f"cat {ENV}/pip.conf", check=True).stdout
    assert "no-index = true" in pip_conf.replace("no_index", "no-index").lower()


def test_a_host_that_holds_the_bundle_receives_nothing_again(offline_lab):
    _, _, again = offline_lab
    assert again.rc == 0, again.output[-3000:]
    for host in HOSTS:
        assert again.changed(host) == [], (host, again.changed(host))


CHECKS = r"""
import json, os, tempfile
import numpy as np
import tensorflow as tf
out = {"version": tf.__version__, "built_with_cuda": tf.test.is_built_with_cuda(),
       "gpus": len(tf.config.list_physical_devices("GPU"))}
a = np.random.rand(64, 32).astype("float32"); b = np.random.rand(32, 16).astype("float32")
with tf.device("/CPU:0"):
    product = tf.matmul(tf.constant(a), tf.constant(b)).numpy()
out["cpu_matmul_ok"] = bool(np.allclose(product, a @ b, rtol=1e-4, atol=1e-5))
model = tf.keras.Sequential([tf.keras.layers.Dense(4, input_shape=(3,)), tf.keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
path = os.path.join(tempfile.mkdtemp(), "model.h5")
model.save(path)
loaded = tf.keras.models.load_model(path)
x = np.ones((2, 3), dtype="float32")
out["h5_roundtrip_ok"] = bool(np.allclose(model.predict(x), loaded.predict(x)))
lstm = tf.keras.Sequential([tf.keras.layers.LSTM(8, input_shape=(5, 3))])
out["lstm_output"] = list(lstm(np.zeros((1, 5, 3), dtype="float32")).shape)
print("@@checks " + json.dumps(out))
"""


def ssh_python(lab, host: str, script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-F", str(lab.paths.ssh_config), "-o", "BatchMode=yes", "-l", "root", host,
         f"{ENV}/bin/python - " + " ".join(args)],
        input=script, capture_output=True, text=True, timeout=900,
    )


def test_real_tensorflow_without_a_driver(offline_lab):
    lab, run, _ = offline_lab
    assert run.rc == 0
    host = "ws-off1"
    # no driver at all on this host: no stub libcuda either
    purge = lab.exec(host, "sh", "-c", "dpkg --purge --force-depends $(dpkg-query -W -f '${Package}\\n' "
                                       "'nvidia-*' 'libnvidia-*' 2>/dev/null) >/dev/null && ! ls /usr/lib/*/libcuda.so.1")
    assert purge.returncode == 0, purge.stdout + purge.stderr

    checks = ssh_python(lab, host, CHECKS)
    line = [l for l in checks.stdout.splitlines() if l.startswith("@@checks ")]
    assert line, checks.stdout[-2000:] + checks.stderr[-4000:]
    found = json.loads(line[0][len("@@checks "):])
    assert found == {"version": "2.1.0", "built_with_cuda": True, "gpus": 0, "cpu_matmul_ok": True,
                     "h5_roundtrip_ok": True, "lstm_output": [1, 8]}
    assert "Descriptors cannot not be created directly" not in checks.stderr  # the protobuf pin

    from facts.verification import verification_program
    from operations.verify import verification_params
    import stacks

    params = verification_params(ENV, stacks.resolve("tf21"))
    script = verification_program()
    verdict = ssh_python(lab, host, script, "--params-json", "'" + json.dumps(params) + "'")
    assert verdict.returncode == 3, verdict.stdout + verdict.stderr
    lines = verdict.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["ok"] is False and result["failed_layer"] == "driver"
    assert "driver" in result["hint"].lower()
