"""conda, pip, CUDA and disk parsers against captured outputs (tests/fixtures: each file's first
line names its public source), and the env facts' scripts run for real against directories
built here."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyinfra.api import StringCommand
from pyinfra_testing.util import get_command_string

from facts.conda import CondaInstall, CondaPackages, parse_record_name
from facts.cuda import (
    EnvCudaLibraries,
    SystemCuda,
    parse_cuda_version_file,
    parse_cudnn_header,
    parse_nvcc_version,
    shadowing_paths,
)
from facts.files_state import FileContent, FileTexts
from facts.host import FreeDisk, parse_df
from facts.ownership import UID_PART
from facts.pip_env import (
    PipPackages,
    normalize_name,
    parse_distributions,
    parse_pip_list_json,
    parse_python_version,
)


def run_fact(fact_class, env=None, **kwargs):
    """Run a fact's command with the local sh the way pyinfra would, and process its output."""
    fact = fact_class()
    command = fact.command(**kwargs) if callable(fact.command) else fact.command
    completed = subprocess.run(["sh", "-c", get_command_string(StringCommand(command))],
                               capture_output=True, text=True, env=env, timeout=120)
    assert completed.returncode == 0, completed.stderr
    return fact.process(completed.stdout.splitlines())


# --- CUDA ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("nvcc_f25_10.1.txt", {"release": "10.1", "version": "10.1.243"}),
    ("nvcc_f25_11.0.txt", {"release": "11.0", "version": "11.0.194"}),
    ("nvcc_f25_11.5.txt", {"release": "11.5", "version": "11.5.119"}),
    ("nvcc_local_13.0.txt", {"release": "13.0", "version": "13.0.88"}),
])
def test_nvcc(fixture_text, name, expected):
    assert parse_nvcc_version(fixture_text(name)) == expected


def test_nvcc_absent():
    assert parse_nvcc_version("sh: 1: nvcc: not found") is None


@pytest.mark.parametrize("name", ["cudnn_f24_7.6.5_header.txt", "cudnn_f24_7.6.5_grep.txt"])
def test_cudnn_header(fixture_text, name):
    assert parse_cudnn_header(fixture_text(name)) == "7.6.5"


def test_cudnn_header_incomplete():
    assert parse_cudnn_header("#define CUDNN_MAJOR 8\n#define CUDNN_MINOR 9\n") is None
    assert parse_cudnn_header("#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 1\n"
                              "#define CUDNN_PATCHLEVEL 0\n") == "9.1.0"


def test_cuda_version_files():
    assert parse_cuda_version_file("CUDA Version 10.1.243\n") == "10.1.243"
    assert parse_cuda_version_file('{"cuda": {"name": "CUDA SDK", "version": "11.0.194"}}') == \
        "11.0.194"
    assert parse_cuda_version_file("{broken") is None
    assert parse_cuda_version_file("") is None


def test_shadowing_paths():
    path = "/opt/miniconda3/envs/tf21/lib:/usr/local/cuda/lib64:/usr/local/cuda-10.0/lib64/:" \
           "/opt/cuda/lib64::/usr/lib/x86_64-linux-gnu"
    assert shadowing_paths(path) == ["/usr/local/cuda/lib64", "/usr/local/cuda-10.0/lib64",
                                     "/opt/cuda/lib64"]
    assert shadowing_paths("") == []


def test_env_cuda_libraries_real_directory(tmp_path):
    lib = tmp_path / "env with space" / "lib"
    lib.mkdir(parents=True)
    (lib / "libcudart.so.10.1.243").write_bytes(b"")
    (lib / "libcudart.so.10.1").symlink_to("libcudart.so.10.1.243")
    (lib / "libcudnn.so.7.6.5").write_bytes(b"")
    (lib / "libcudnn.so.7").symlink_to("libcudnn.so.7.6.5")
    (lib / "libcublas.so.10").symlink_to("libcublas.so.10.2.1.243")  # dangling: not usable
    (lib / "libpython3.7m.so.1.0").write_bytes(b"")                   # not a CUDA library
    (lib / "libcudart.so").symlink_to("libcudart.so.10.1")            # dev link, no soname
    result = run_fact(EnvCudaLibraries, env_prefix=str(tmp_path / "env with space"))
    assert result == {"present": True, "libraries": [
        "libcudart.so.10.1", "libcudart.so.10.1.243", "libcudnn.so.7", "libcudnn.so.7.6.5"]}
    assert run_fact(EnvCudaLibraries, env_prefix=str(tmp_path / "nope")) == \
        {"present": False, "libraries": []}


def test_system_cuda_on_this_machine():
    env = dict(os.environ, LD_LIBRARY_PATH="/usr/local/cuda-10.1/lib64:/somewhere/else")
    result = run_fact(SystemCuda, env=env)
    assert result["ld_library_path"] == "/usr/local/cuda-10.1/lib64:/somewhere/else"
    assert result["shadowing_paths"] == ["/usr/local/cuda-10.1/lib64"]
    nvcc = subprocess.run("command -v nvcc || ls /usr/local/cuda/bin/nvcc", shell=True,
                          capture_output=True, text=True).stdout.strip()
    if nvcc:
        version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
        assert result["nvcc"] == dict(parse_nvcc_version(version), path=nvcc)
    else:
        assert result["nvcc"] is None


# --- conda -----------------------------------------------------------------------------------

@pytest.mark.parametrize("filename, expected", [
    ("cudatoolkit-10.1.243-h6bb024c_0.json", ("cudatoolkit", "10.1.243", "h6bb024c_0")),
    ("cudnn-7.6.5-cuda10.1_0.json", ("cudnn", "7.6.5", "cuda10.1_0")),
    ("conda-package-handling-1.7.3-py38h27cfd23_1.json",
     ("conda-package-handling", "1.7.3", "py38h27cfd23_1")),
    ("_libgcc_mutex-0.1-main.json", ("_libgcc_mutex", "0.1", "main")),
    ("/opt/conda/conda-meta/python-3.7.16-h7a1cb2a_0.json", ("python", "3.7.16", "h7a1cb2a_0")),
])
def test_record_names(filename, expected):
    record = parse_record_name(filename)
    assert (record["name"], record["version"], record["build"]) == expected


@pytest.mark.parametrize("filename", ["history", "broken.json", "a-b.json", ""])
def test_not_records(filename):
    assert parse_record_name(filename) is None


def make_conda_prefix(root: Path, envs: dict, condarc: str | None):
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "conda").write_text("#!/bin/sh\n# STAND-IN: never started by the facts\nexit 99\n")
    (root / "bin" / "conda").chmod(0o755)
    meta = root / "conda-meta"
    meta.mkdir()
    for record in ["conda-4.8.3-py38_0.json", "conda-package-handling-1.6.1-py38h7b6447c_0.json",
                   "python-3.8.3-hcff3b4d_0.json", "python-dateutil-2.8.1-py_0.json"]:
        (meta / record).write_text("{}")
    (meta / "history").write_text("")
    for name, records in envs.items():
        env_meta = root / "envs" / name / "conda-meta"
        env_meta.mkdir(parents=True)
        for record in records:
            (env_meta / record).write_text("{}")
    (root / "envs" / "not-an-env").mkdir()  # a stray directory without conda-meta
    if condarc is not None:
        (root / ".condarc").write_text(condarc)


def test_conda_install_real_prefix(tmp_path):
    prefix = tmp_path / "mini conda3"
    condarc = "channels:\n  - defaults\n\ndefault_channels:\n  - https://mirrors.tuna.tsinghua.edu.cn/anaconda/pkgs/main\n"
    make_conda_prefix(prefix, {
        "tf21": ["python-3.7.16-h7a1cb2a_0.json", "cudatoolkit-10.1.243-h6bb024c_0.json",
                 "cudnn-7.6.5-cuda10.1_0.json"],
        "empty": [],
    }, condarc)
    result = run_fact(CondaInstall, prefix=str(prefix))
    assert result == {
        "present": True, "exists": True, "prefix": str(prefix), "version": "4.8.3",
        "python": "3.8.3", "unsafe": [],  # owned by root, not group/world-writable (facts/ownership.py)
        "envs": [
            {"name": "base", "path": str(prefix), "python": "3.8.3"},
            {"name": "empty", "path": str(prefix / "envs" / "empty"), "python": None},
            {"name": "tf21", "path": str(prefix / "envs" / "tf21"), "python": "3.7.16"},
        ],
        "condarc": condarc,
    }
    packages = run_fact(CondaPackages, env_prefix=str(prefix / "envs" / "tf21"))
    assert packages == {"present": True, "packages": {
        "python": {"version": "3.7.16", "build": "h7a1cb2a_0"},
        "cudatoolkit": {"version": "10.1.243", "build": "h6bb024c_0"},
        "cudnn": {"version": "7.6.5", "build": "cuda10.1_0"},
    }, "python": "3.7.16", "conda": None, "conda_version": None, "libraries": []}
    # with the root prefix, the same one command also says whether conda is there
    with_root = run_fact(CondaPackages, env_prefix=str(prefix / "envs" / "tf21"), prefix=str(prefix))
    assert with_root == {**packages, "conda": True, "conda_version": "4.8.3"}
    empty = run_fact(CondaPackages, env_prefix=str(prefix / "envs" / "empty"), prefix=str(prefix))
    assert empty == {"present": True, "packages": {}, "python": None, "conda": True, "conda_version": "4.8.3",
                     "libraries": []}
    missing = run_fact(CondaPackages, env_prefix=str(prefix / "envs" / "other"), prefix=str(prefix))
    assert missing == {"present": False, "packages": {}, "python": None, "conda": True, "conda_version": "4.8.3",
                       "libraries": []}


def _uid_seen(script: str, prefix=(), env=None) -> str:
    completed = subprocess.run([*prefix, "sh", "-c", script + "gpuws_uid; echo \"$_uid\""],
                               capture_output=True, text=True, env=env, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def test_uid_is_read_without_starting_id(tmp_path):
    """UID_PART (facts/ownership.py): the effective uid from /proc/self/status, as `id -u` says it;
    `id -u` only where that file is missing."""
    tripwire = tmp_path / "bin"
    tripwire.mkdir()
    (tripwire / "id").write_text("#!/bin/sh\necho 4242\n")
    (tripwire / "id").chmod(0o755)
    env = dict(os.environ, PATH=f"{tripwire}:{os.environ['PATH']}")
    assert _uid_seen(UID_PART, env=env) == str(os.geteuid())
    if os.geteuid() == 0:  # another user's shell sees its own uid (setpriv: util-linux)
        assert _uid_seen(UID_PART, prefix=("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups")) \
            == "65534"
    no_proc = UID_PART.replace("/proc/self/status", str(tmp_path / "missing"))
    assert _uid_seen(no_proc, env=env) == "4242"


def test_conda_absent_and_half_installed(tmp_path):
    assert run_fact(CondaInstall, prefix=str(tmp_path / "none"))["present"] is False
    (tmp_path / "half" / "conda-meta").mkdir(parents=True)  # installer interrupted
    half = run_fact(CondaInstall, prefix=str(tmp_path / "half"))
    assert (half["present"], half["exists"], half["envs"]) == (False, True, [])
    assert run_fact(CondaPackages, env_prefix=str(tmp_path / "none")) == \
        {"present": False, "packages": {}, "python": None, "conda": None, "conda_version": None, "libraries": []}
    for root in ("none", "half"):  # no conda at the prefix (half: conda-meta without bin/conda)
        assert run_fact(CondaPackages, env_prefix=str(tmp_path / root / "envs" / "tf21"),
                        prefix=str(tmp_path / root)) == \
            {"present": False, "packages": {}, "python": None, "conda": False, "conda_version": None,
             "libraries": []}


def test_conda_packages_lists_the_env_cuda_libraries(tmp_path):
    """The same one command lists ENV/lib's CUDA library names by EnvCudaLibraries' rule: a
    library deleted by hand is gone from the list while conda-meta still records its package."""
    prefix = tmp_path / "mini conda3"
    make_conda_prefix(prefix, {"tf21": ["python-3.7.16-h7a1cb2a_0.json", "cudatoolkit-10.1.243-h6bb024c_0.json",
                                        "cudnn-7.6.5-cuda10.1_0.json"]}, None)
    env = prefix / "envs" / "tf21"
    lib = env / "lib"
    lib.mkdir()
    (lib / "libcudart.so.10.1.243").write_bytes(b"")
    (lib / "libcudart.so.10.1").symlink_to("libcudart.so.10.1.243")
    (lib / "libcublas.so.10").symlink_to("libcublas.so.10.2.1.243")  # dangling: not usable
    (lib / "libpython3.7m.so.1.0").write_bytes(b"")                   # not a CUDA library
    (lib / "libcudart.so").symlink_to("libcudart.so.10.1")            # dev link, no soname
    (lib / "libcudnn.so.7").symlink_to("libcudnn.so.7.6.5")           # `rm libcudnn.so.7.6.5`
    result = run_fact(CondaPackages, env_prefix=str(env), prefix=str(prefix))
    assert set(result["packages"]) == {"python", "cudatoolkit", "cudnn"}
    assert result["libraries"] == ["libcudart.so.10.1", "libcudart.so.10.1.243"]
    assert result["libraries"] == run_fact(EnvCudaLibraries, env_prefix=str(env))["libraries"]


# --- pip -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, normal", [
    ("typing_extensions", "typing-extensions"), ("Keras-Applications", "keras-applications"),
    ("Keras_Preprocessing", "keras-preprocessing"), ("zope.interface", "zope-interface"),
    ("tensorflow-gpu", "tensorflow-gpu"), ("PyYAML", "pyyaml"),
])
def test_normalize_name(name, normal):
    assert normalize_name(name) == normal


def test_parse_pip_list_with_warnings():
    text = ("WARNING: Ignoring invalid distribution -umpy (/x/site-packages)\n"
            '[{"name": "tensorflow-gpu", "version": "2.1.0+cu101"}, '
            '{"name": "typing_extensions", "version": "3.7.4.3"}]\n')
    assert parse_pip_list_json(text) == {"tensorflow-gpu": "2.1.0+cu101",
                                         "typing-extensions": "3.7.4.3"}
    with pytest.raises(ValueError):
        parse_pip_list_json("/x/python: No module named pip")


def test_python_version():
    assert parse_python_version("Python 3.7.16") == "3.7.16"
    assert parse_python_version("Python 2.7.18\n") == "2.7.18"
    assert parse_python_version("sh: python: not found") is None
    assert parse_python_version("python-3.7.16-h0371630_0.json") == "3.7.16"  # conda's record
    assert parse_python_version("python-3.13.0rc1-h9ebbce0_100_cp313.json") == "3.13.0rc1"


def test_parse_distributions_first_on_path_wins():
    assert parse_distributions(["Keras_Applications 1.0.8", "six 1.17.0", "six 1.10.0", "broken", ""]) == \
        {"keras-applications": "1.0.8", "six": "1.17.0"}


def make_distributions(site: Path):
    """Real .dist-info metadata (what a wheel install leaves), read by the real pip."""
    for project, version in [("Keras_Applications", "1.0.8"), ("typing_extensions", "3.7.4.3"),
                             ("tensorflow_gpu", "2.1.0+cu101")]:
        info = site / f"{project}-{version}.dist-info"
        info.mkdir(parents=True)
        display = project.replace("Keras_Applications", "Keras-Applications")
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {display}\nVersion: {version}\n")
        (info / "RECORD").write_text("")


PYTHONS = [sys.executable]
_PY37 = subprocess.run("command -v pyenv >/dev/null && echo $(pyenv root)/versions/3.7.16/bin/python3.7",
                       shell=True, capture_output=True, text=True).stdout.strip()
if _PY37 and Path(_PY37).exists():
    PYTHONS.append(_PY37)


def env_with_distributions(tmp_path: Path, python: str) -> str:
    """A venv of `python` whose site-packages holds the test distributions, and which reaches the
    interpreter's own pip through a .pth file (the fact runs python -I: PYTHONPATH is ignored)."""
    venv = tmp_path / "env"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    env_python = venv / "bin" / "python"
    site = Path(subprocess.run([str(env_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    make_distributions(site)
    pip_home = subprocess.run([python, "-I", "-c", "import os, pip; print(os.path.dirname(os.path.dirname(pip.__file__)))"],
                              capture_output=True, text=True, check=True).stdout.strip()
    (site / "zz_pip_home.pth").write_text(pip_home + "\n")
    return str(env_python)


@pytest.mark.parametrize("python", PYTHONS)
def test_pip_packages_real_pip(tmp_path, python):
    result = run_fact(PipPackages, python=env_with_distributions(tmp_path, python))
    assert result["present"] is True and result["error"] is None
    expected_python = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                                     capture_output=True, text=True).stdout.strip()
    assert result["python"] == expected_python
    packages = result["packages"]
    assert packages["keras-applications"] == "1.0.8"
    assert packages["typing-extensions"] == "3.7.4.3"
    assert packages["tensorflow-gpu"] == "2.1.0+cu101"
    assert "pip" in packages


def as_conda_env(env_python: str) -> Path:
    """Turn the venv of `env_python` into what the fact takes for a conda env (conda's record of
    python), its interpreter replaced by a tripwire: the fact must read it without starting it."""
    python = Path(env_python)
    version = subprocess.run([env_python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    meta = python.parent.parent / "conda-meta"
    meta.mkdir()
    (meta / f"python-{version}-h0371630_0.json").write_text("{}")
    tripwire = python.parent.parent / "STARTED"
    python.unlink()
    python.write_text(f"#!/bin/sh\ntouch '{tripwire}'\nexit 1\n")
    python.chmod(0o755)
    return tripwire


@pytest.mark.parametrize("python", PYTHONS)
def test_pip_packages_of_a_conda_env_read_without_starting_python(tmp_path, python):
    env_python = env_with_distributions(tmp_path, python)
    listed = run_fact(PipPackages, python=env_python)  # the real pip's listing, before the change
    tripwire = as_conda_env(env_python)
    result = run_fact(PipPackages, python=env_python)
    assert not tripwire.exists()
    assert result["present"] is True and result["error"] is None
    assert result["python"] == listed["python"] and result["packages"] == listed["packages"]


def test_pip_packages_scan_of_a_conda_env(tmp_path):
    """What the scan reads: .dist-info, .egg-info folders and files, eggs and folders that .pth
    files add (relative or absolute; comments and import lines skipped), CRLF metadata, the first
    of a name on the path; no pip distribution is the error pip would give."""
    env = tmp_path / "env"
    site = env / "lib" / "python3.7" / "site-packages"
    site.mkdir(parents=True)
    (env / "bin").mkdir()
    (env / "bin" / "python").write_text(f"#!/bin/sh\ntouch '{env}/STARTED'\n")
    (env / "bin" / "python").chmod(0o755)
    (env / "conda-meta").mkdir()
    (env / "conda-meta" / "python-3.7.16-h0371630_0.json").write_text("{}")
    (env / "conda-meta" / "python-dateutil-2.8.2-pyhd3eb1b0_0.json").write_text("{}")  # not python's
    def metadata(path, name, version, crlf=False, version_first=False):
        path.parent.mkdir(parents=True, exist_ok=True)
        headers = [f"Version: {version}", f"Name: {name}"] if version_first else [f"Name: {name}", f"Version: {version}"]
        text = "Metadata-Version: 2.1\n" + "\n".join(headers) + "\nSummary: x\n\nName: not-a-header\nVersion: 0\n"
        path.write_text(text.replace("\n", "\r\n") if crlf else text)
    metadata(site / "six-1.17.0.dist-info" / "METADATA", "six", "1.17.0")
    metadata(site / "wrapt-1.11.2-py3.7.egg-info" / "PKG-INFO", "wrapt", "1.11.2", crlf=True)
    metadata(site / "termcolor-1.1.0-py3.7.egg-info", "termcolor", "1.1.0")  # distutils: a file
    metadata(site / "zipp-3.15.0.dist-info" / "METADATA", "zipp", "3.15.0", version_first=True)
    metadata(tmp_path / "src" / "gpuws_demo.egg-info" / "PKG-INFO", "gpuws-demo", "0.1.dev0")  # develop
    metadata(site / "astor-0.8.1-py3.7.egg" / "EGG-INFO" / "PKG-INFO", "astor", "0.8.1")
    metadata(tmp_path / "older" / "six-1.10.0.dist-info" / "METADATA", "six", "1.10.0")
    (site / "easy-install.pth").write_text(f"# eggs\n./astor-0.8.1-py3.7.egg\n{tmp_path / 'src'}\n"
                                           f"import sys; sys.__plainlist = 1\n\n{tmp_path / 'older'}\n/no/such/dir\n")
    result = run_fact(PipPackages, python=str(env / "bin" / "python"))
    assert not (env / "STARTED").exists()
    assert result == {"present": True, "python": "3.7.16", "unsafe": [],
                      "error": "No module named pip (no pip distribution in the env)",
                      "packages": {"six": "1.17.0", "wrapt": "1.11.2", "termcolor": "1.1.0", "zipp": "3.15.0",
                                   "astor": "0.8.1",
                                   "gpuws-demo": "0.1.dev0"}}
    metadata(site / "pip-20.0.2.dist-info" / "METADATA", "pip", "20.0.2")
    assert run_fact(PipPackages, python=str(env / "bin" / "python"))["error"] is None


def test_pip_packages_absent_interpreter_and_no_pip(tmp_path):
    assert run_fact(PipPackages, python=str(tmp_path / "bin" / "python")) == \
        {"present": False, "python": None, "packages": {}, "error": None, "unsafe": []}
    assert run_fact(PipPackages, python="no-such-python-here")["present"] is False
    # an interpreter without pip: a stand-in that answers -V and fails -m pip like CPython does
    fake = tmp_path / "python"
    fake.write_text('#!/bin/sh\n# STAND-IN interpreter without pip\n'
                    'if [ "$1" = -V ]; then echo "Python 3.7.16"; exit 0; fi\n'
                    'echo "$0: No module named pip" >&2; exit 1\n')
    fake.chmod(0o755)
    result = run_fact(PipPackages, python=str(fake))
    assert result["present"] is True and result["python"] == "3.7.16"
    assert result["packages"] == {} and result["error"].endswith("No module named pip")


# --- disk and files ---------------------------------------------------------------------------

def test_parse_df():
    text = ("Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
            "/dev/nvme0n1p2   490617784 123456789 342115548      27% /data disk\n")
    assert parse_df(text) == {"free_mib": 342115548 // 1024, "total_mib": 490617784 // 1024,
                              "mount": "/data disk"}
    assert parse_df("df: /nope: No such file or directory") is None


def test_free_disk_walks_up_to_existing_parent(tmp_path):
    target = tmp_path / "not yet" / "miniconda3"
    result = run_fact(FreeDisk, path=str(target))
    assert result["path"] == str(target) and result["checked_path"] == str(tmp_path)
    stat = os.statvfs(tmp_path)
    assert abs(result["free_mib"] - stat.f_bavail * stat.f_frsize // 2**20) < 512  # other writers


def test_file_content(tmp_path):
    path = tmp_path / "pip.conf"
    path.write_text("[global]\nindex-url = https://pypi.tuna.tsinghua.edu.cn/simple\n\n")
    assert run_fact(FileContent, path=str(path)) == path.read_text()
    path.write_text("no newline at end")
    assert run_fact(FileContent, path=str(path)) == "no newline at end\n"
    path.write_text("")
    assert run_fact(FileContent, path=str(path)) == ""
    path.write_text("@@end\n@@section content rc=0\n")  # marker-like lines are content too
    assert run_fact(FileContent, path=str(path)) == "@@end\n@@section content rc=0\n"
    assert run_fact(FileContent, path=str(tmp_path / "absent")) is None


def test_file_contents_reads_several_files_like_file_content(tmp_path):
    texts = {
        "pip.conf": "[global]\nindex-url = https://pypi.tuna.tsinghua.edu.cn/simple\n\n",
        "no newline": "no newline at end",
        "empty": "",
        "markers": "@@end\n@@file absent /x\n@@file content 9 /y\n",  # marker-like lines are content
        "blanks": "  leading blanks \\ a backslash\t\n\n\n\ttab\r\n",  # as the shell counts lines
    }
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
    paths = [str(tmp_path / name) for name in [*texts, "absent", "it's absent"]]
    result = run_fact(FileTexts, paths=paths)
    assert result == {path: run_fact(FileContent, path=path) for path in paths}
    assert list(result) == paths
    assert run_fact(FileTexts, paths=[]) == {}
