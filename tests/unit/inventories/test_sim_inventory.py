"""The simulated lab's inventory data (lab/inventory.py), read from a lab state on disk: no root,
no namespaces. inventories/sim.py hands exactly this to pyinfra."""

import pytest

from deploys.desired import desired_state
from lab.control import NOT_RUNNING
from lab.inventory import deploy_data, host_data, workstations
from lab.paths import MIRROR_URL, LabPaths

SHA256 = "ab" * 32
ENTRY = {
    "name": "ws-conda", "address": "10.250.0.13", "port": 22, "unreachable": False,
    "spec": {"gpus": [{"name": "TITAN Xp", "memory_mib": 12196, "compute_capability": "6.1"}],
             "driver": "450.119.03", "conda_prefix": "/opt/miniconda3"},
}
STATE = {"mirror_url": MIRROR_URL, "hosts": [ENTRY],
         "ssh": {"user": "root", "sudo_user": "tfuser", "key": "ssh/id_ed25519", "known_hosts": "ssh/known_hosts"}}


@pytest.fixture()
def paths(tmp_path):
    lab = LabPaths(tmp_path)
    lab.miniconda_dir.mkdir(parents=True)
    (lab.miniconda_dir / "Miniconda3-lab.sh.sha256").write_text(f"{SHA256}  Miniconda3-lab.sh\n")
    return lab


def test_every_package_source_is_the_lab_mirror(paths):
    data = deploy_data(MIRROR_URL, paths)
    assert data["miniconda_url"] == f"{MIRROR_URL}/miniconda/Miniconda3-lab.sh"
    assert data["miniconda_sha256"] == SHA256
    assert data["conda_mirror_url"] == f"{MIRROR_URL}/conda/lab"
    assert data["pip_find_links"] == [f"{MIRROR_URL}/wheels/"] and data["pip_no_index"] is True
    assert data["pip_trusted_hosts"] == ["10.250.0.1"]  # pip 20 ignores http find-links otherwise


def test_the_lab_data_passes_the_deploys_own_validation(paths):
    desired = desired_state(deploy_data(MIRROR_URL, paths))
    assert desired.config["conda_channel_preset"] == "mirror"
    assert desired.config["nvidia_driver_packages"] == ["nvidia-driver-{branch}"]


def test_a_host_carries_its_ssh_data_and_what_the_spec_says():
    data = host_data(ENTRY, STATE)
    assert {k: data[k] for k in ("ssh_hostname", "ssh_port", "ssh_user", "ssh_strict_host_key_checking")} == {
        "ssh_hostname": "10.250.0.13", "ssh_port": 22, "ssh_user": "root", "ssh_strict_host_key_checking": "yes"}
    assert data["ssh_known_hosts_file"] == "ssh/known_hosts" and data["ssh_key"] == "ssh/id_ed25519"
    assert data["lab_driver"] == "450.119.03" and data["lab_gpus"] == ENTRY["spec"]["gpus"]
    assert data["lab_mirror_url"] == MIRROR_URL and data["lab_sudo_user"] == "tfuser"


def test_no_running_lab_stops_with_one_line(paths):
    with pytest.raises(SystemExit) as stopped:
        workstations(paths)
    assert stopped.value.code == NOT_RUNNING
