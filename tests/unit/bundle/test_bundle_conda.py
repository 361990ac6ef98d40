"""The conda half and the bundle mechanics, against a tiny channel served over HTTP."""

import asyncio
import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import rattler

from deploys import bundle_manifest as manifest
from tools.bundle import build
from tools.bundle.__main__ import main

ROOT = Path(__file__).resolve().parents[3]
CLOSURE = {"python", "pip", "setuptools", "wheel", "libgcc-ng", "libstdcxx-ng", "cudatoolkit", "cudnn"}


def bundle_args(out, upstream, stack_file, installer):
    return ["--stack-file", str(stack_file), "--platform", "linux-64", "--out", str(out),
            "--channel", upstream.url, "--miniconda-file", str(installer[0])]


def options(out, upstream, installer, stack):
    return build.Options(out=str(out), stack=stack, channels=[upstream.url], miniconda_file=str(installer[0]))


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_bundle_holds_the_solved_closure_with_checksums(tmp_path, tiny_stack, upstream, upstream_channel, stack_file,
                                                       installer, capsys):
    out = tmp_path / "bundle"
    assert main(bundle_args(out, upstream, stack_file, installer)) == 0
    data = manifest.load(out)
    conda_files = manifest.files(data, "conda")
    # dependencies included (libgcc-ng/libstdcxx-ng via cudatoolkit, pip + its deps via python),
    # decoys and unrelated packages left out
    assert {e["name"] for e in conda_files} == CLOSURE
    by_name = {e["name"]: e for e in conda_files}
    assert (by_name["cudatoolkit"]["version"], by_name["cudatoolkit"]["build"]) == ("10.1.243", "h6bb024c_0")
    assert by_name["cudnn"]["build"] == "cuda10.1_0"
    assert by_name["python"]["version"] == "3.7.16"
    assert by_name["setuptools"]["path"] == "conda/noarch/setuptools-45.2.0-py_0.tar.bz2"
    upstream_repodata = json.loads((upstream_channel / "linux-64" / "repodata.json").read_text())["packages"]
    for entry in conda_files:
        local = out / entry["path"]
        assert sha256(local) == entry["sha256"] == sha256(upstream_channel / entry["path"][len("conda/"):])
        assert local.stat().st_size == entry["size"]
        assert entry["url"] == f"{upstream.url}/{entry['path'][len('conda/'):]}"
        if entry["path"].startswith("conda/linux-64/"):
            assert upstream_repodata[local.name]["sha256"] == entry["sha256"]
    (installer_entry,) = manifest.files(data, "installer")
    assert installer_entry["path"] == f"miniconda/{installer[0].name}"
    assert installer_entry["sha256"] == installer[1] == sha256(out / installer_entry["path"])
    assert data["stack"] == tiny_stack and data["platform"] == "linux-64" and data["python"] == "3.7.16"
    assert data["format"] == manifest.FORMAT
    assert data["totals"]["files"] == len(CLOSURE) + 1
    assert data["totals"]["bytes"] == sum((out / e["path"]).stat().st_size for e in data["files"])
    assert manifest.upstream_bytes(data) == data["totals"]["bytes"]  # nothing built here
    assert manifest.verify(out) == []
    assert not list(out.rglob("*.partial")) and not (out / manifest.PLAN).exists()
    summary = capsys.readouterr().out
    assert f"{len(CLOSURE) + 1} files" in summary and "downloaded" in summary


def test_bundle_channel_is_indexed_and_installable(tmp_path, tiny_stack, upstream, installer):
    out = tmp_path / "bundle"
    build.run(options(out, upstream, installer, tiny_stack))
    data = manifest.load(out)
    channel = rattler.Channel((out / "conda").resolve().as_uri())
    gateway = rattler.Gateway(cache_dir=tmp_path / "repodata-cache")
    records = asyncio.run(rattler.solve(
        [channel], [rattler.MatchSpec(e["spec"]) for e in tiny_stack["conda"]], gateway=gateway,
        platforms=["linux-64", "noarch"], add_pip_as_python_dependency=True))
    # the bundle alone solves to exactly the bundled set
    assert sorted(r.file_name for r in records) == sorted(e["path"].rsplit("/", 1)[1]
                                                         for e in manifest.files(data, "conda"))
    prefix = (tmp_path / "env").resolve()  # absolute: rattler writes relative shebangs otherwise
    asyncio.run(rattler.install(records, prefix, cache_dir=tmp_path / "pkgs-cache", show_progress=False))
    assert (prefix / "share/standin/cudnn-7.6.5.txt").read_text().startswith("STAND-IN cudnn 7.6.5 cuda10.1_0")
    assert (prefix / "conda-meta/cudatoolkit-10.1.243-h6bb024c_0.json").exists()


def test_second_run_downloads_nothing(tmp_path, tiny_stack, upstream, installer):
    out = tmp_path / "bundle"
    first = build.run(options(out, upstream, installer, tiny_stack))
    assert first.downloaded == sum(e["size"] for e in manifest.files(first.manifest, "conda"))
    assert len(upstream.package_gets()) == len(CLOSURE)
    upstream.requests.clear()
    second = build.run(options(out, upstream, installer, tiny_stack))
    assert (second.downloaded, second.fetched, second.removed) == (0, 0, 0)
    assert upstream.requests == []  # the plan on disk is re-used: not even repodata is fetched
    assert second.manifest["files"] == first.manifest["files"]
    assert manifest.verify(out) == []


def test_corrupted_file_is_downloaded_again(tmp_path, tiny_stack, upstream, installer):
    out = tmp_path / "bundle"
    build.run(options(out, upstream, installer, tiny_stack))
    entry = next(e for e in manifest.files(manifest.load(out), "conda") if e["name"] == "cudnn")
    target = out / entry["path"]
    target.write_bytes(b"x" * entry["size"])  # same size, wrong content
    (out / "conda/linux-64/leftover.tar.bz2.partial").write_bytes(b"interrupted")
    assert manifest.verify(out) == [f"sha256 of {entry['path']} differs from the manifest"]
    upstream.requests.clear()
    again = build.run(options(out, upstream, installer, tiny_stack))
    assert (again.fetched, again.downloaded) == (1, entry["size"])
    assert upstream.package_gets() == ["/" + entry["path"][len("conda/"):]]
    assert sha256(target) == entry["sha256"]
    assert not list(out.rglob("*.partial"))
    assert manifest.verify(out) == []


def test_a_remembered_sound_check_is_reused_until_a_file_changes(tmp_path, tiny_stack, upstream, installer,
                                                                  monkeypatch):
    out, record = tmp_path / "bundle", str(tmp_path / "cache" / "verified.json")
    build.run(options(out, upstream, installer, tiny_stack))
    assert manifest.verify(out, remember=record) == []  # reads every byte, then remembers
    read = []
    real_digest = manifest.file_digest
    monkeypatch.setattr(manifest, "file_digest", lambda path, *a: read.append(path) or real_digest(path, *a))
    assert manifest.verify(out, remember=record) == [] and read == [str(out / manifest.MANIFEST)]
    entry = next(e for e in manifest.files(manifest.load(out), "conda") if e["name"] == "cudnn")
    target = out / entry["path"]
    stat = target.stat()
    target.write_bytes(b"x" * entry["size"])  # same size, wrong content, even the old mtime back:
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # its ctime still tells
    assert manifest.verify(out, remember=record) == [f"sha256 of {entry['path']} differs from the manifest"]
    assert manifest.verify(out, remember=record) != []  # a failed check is never remembered


def test_changed_stack_removes_stale_packages(tmp_path, tiny_stack, upstream, installer):
    out = tmp_path / "bundle"
    build.run(options(out, upstream, installer, tiny_stack))
    smaller = dict(tiny_stack, conda=tiny_stack["conda"][:1])  # python only
    result = build.run(build.Options(out=str(out), stack=smaller, channels=[upstream.url],
                                     miniconda_file=str(installer[0])))
    names = {e["name"] for e in manifest.files(result.manifest, "conda")}
    assert names == {"python", "pip", "setuptools", "wheel", "libgcc-ng"}
    assert result.removed == 3  # cudatoolkit, cudnn, libstdcxx-ng
    assert not list((out / "conda").rglob("cudnn-*"))
    assert manifest.verify(out) == []


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case, expected", [
    ("platform", "unknown platform 'osx-arm64'"),
    ("channel", "cannot reach conda channel"),
    ("stack", "no-such-stack"),
    ("sha", "--miniconda-url needs --miniconda-sha256"),
    ("stack-keys", "the stack lacks"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, upstream, stack_file, installer, capsys, case, expected):
    out = tmp_path / "bundle"
    args = bundle_args(out, upstream, stack_file, installer)
    if case == "platform":
        args[args.index("linux-64")] = "osx-arm64"
    elif case == "channel":
        args[args.index(upstream.url)] = f"http://127.0.0.1:{closed_port()}/nowhere"
    elif case == "stack":
        args = ["no-such-stack", "--out", str(out), "--channel", upstream.url]
    elif case == "sha":
        args += ["--miniconda-url", "http://127.0.0.1/Miniconda3.sh"]
        args.remove("--miniconda-file"), args.remove(str(installer[0]))
    elif case == "stack-keys":
        stack_file.write_text(json.dumps({"name": "broken", "python": "3.7"}))
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bundle: ") and expected in lines[0]
    assert not out.exists() or not any(out.iterdir())  # nothing partial left behind


def test_refuses_a_foreign_directory(tmp_path, upstream, stack_file, installer, capsys):
    out = tmp_path / "home"
    out.mkdir()
    (out / "notes.txt").write_text("not a bundle")
    assert main(bundle_args(out, upstream, stack_file, installer)) == 2
    assert "holds no bundle" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_verify_cli_reports_a_missing_file(tmp_path, tiny_stack, upstream, installer, capsys):
    out = tmp_path / "bundle"
    build.run(options(out, upstream, installer, tiny_stack))
    assert main(["verify", str(out)]) == 0
    (out / "conda/noarch/wheel-0.34.2-py_0.tar.bz2").unlink()
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    assert capsys.readouterr().err.strip() == "missing conda/noarch/wheel-0.34.2-py_0.tar.bz2"


def test_bundle_cli_process_exits_normally_with_rattler_kept_in_a_child(tmp_path, upstream, stack_file, installer):
    # The CLI's interpreter never loads py-rattler (solve and index run in a child process), so it
    # finalizes normally: atexit handlers run, and the exit status is main()'s.
    out = tmp_path / "bundle"
    probe = (
        "import atexit, sys\n"
        "from tools.bundle.__main__ import main\n"
        "atexit.register(lambda: print('finalized; rattler loaded here:', 'rattler' in sys.modules))\n"
        f"sys.exit(main({[str(a) for a in bundle_args(out, upstream, stack_file, installer)]!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "finalized; rattler loaded here: False"
    assert manifest.verify(out) == []
