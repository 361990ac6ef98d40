"""The YAML knowledge: every row carries its source, required keys, parsable versions; broken
files are refused with an error naming the file and the row."""

import shutil

import pytest
import yaml

from stacks import StackError
from stacks.data import DATA_DIR, SCHEMA, load, load_all, load_file


def _rows(document, schema):
    for section, (kind, _required) in schema.items():
        rows = [document[section]] if kind == "single" else document[section]
        for index, row in enumerate(rows):
            yield section, index, row


def test_every_data_file_is_known_to_the_schema():
    on_disk = {path.name for path in DATA_DIR.glob("*.yaml")}
    assert on_disk == set(SCHEMA)


@pytest.mark.parametrize("file_name", sorted(SCHEMA))
def test_every_row_has_a_non_empty_source(file_name):
    document = yaml.safe_load((DATA_DIR / file_name).read_text())
    count = 0
    for section, index, row in _rows(document, SCHEMA[file_name]):
        assert isinstance(row.get("source"), str) and row["source"].strip(), f"{file_name}: {section}[{index}]"
        count += 1
    assert count > 0


def test_stack_pip_rows_have_reason_and_source():
    for stack in load("stacks.yaml")["stacks"]:
        for row in stack["pip"]:
            assert row["reason"].strip() and row["source"].strip()


def test_load_is_cached_once_per_process():
    assert load("tf_builds.yaml") is load("tf_builds.yaml")
    assert set(load_all()) == set(SCHEMA)


def test_table3_has_every_update_row_and_the_cuda_10_1_figures():
    rows = load("cuda_drivers.yaml")["table3"]
    assert len(rows) == 60
    (cuda101,) = [row for row in rows if row["cuda"] == "10.1"]
    assert (cuda101["linux"], cuda101["windows"]) == ("418.39", "418.96")
    assert [row["release"] for row in rows if row["cuda"] == "11.2"] == \
        ["11.2.2 Update 2", "11.2.1 Update 1", "11.2.0 GA"]
    assert all(row["windows"] is None for row in rows if row["cuda"].startswith("13."))


def test_build_tables_cover_tf_1_13_to_2_21_on_both_oses():
    builds = load("tf_builds.yaml")["builds"]
    linux = {row["tensorflow"] for row in builds if row["os"] == "linux"}
    windows = {row["tensorflow"] for row in builds if row["os"] == "windows"}
    assert {"1.13.1", "2.1.0", "2.21.0"} <= linux and len(linux) == 25
    assert {"1.13.0", "2.1.0", "2.10.0"} <= windows and "2.11.0" not in windows


def test_wheel_pythons_for_tf21_exclude_3_8():
    rows = {(row["tensorflow"], row["os"]): row["python"] for row in load("tf_builds.yaml")["wheel_pythons"]}
    assert rows[("2.1.0", "linux")] == ["2.7", "3.5", "3.6", "3.7"]
    assert rows[("2.1.0", "windows")] == ["3.5", "3.6", "3.7"]


def _broken_copy(tmp_path, file_name, mutate):
    document = yaml.safe_load((DATA_DIR / file_name).read_text())
    mutate(document)
    path = tmp_path / file_name
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_row_without_source_is_refused_naming_file_and_row(tmp_path):
    path = _broken_copy(tmp_path, "tf_builds.yaml", lambda d: d["builds"][4].pop("source"))
    with pytest.raises(StackError) as error:
        load_file(path)
    message = str(error.value)
    assert "stacks/data/tf_builds.yaml" in message and "builds[4]" in message
    assert "tensorflow 2.17.0" in message and "'source'" in message


def test_an_unquoted_float_version_is_refused(tmp_path):
    def mutate(document):
        document["table3"][0]["linux"] = 595.71
    path = _broken_copy(tmp_path, "cuda_drivers.yaml", mutate)
    with pytest.raises(StackError, match=r"cuda_drivers.yaml: table3\[0\].*linux: malformed"):
        load_file(path)


def test_a_missing_required_key_is_refused(tmp_path):
    path = _broken_copy(tmp_path, "pins.yaml", lambda d: d["pins"][1].pop("reason"))
    with pytest.raises(StackError, match=r"pins.yaml: pins\[1\] \(tensorflow >=1.13,<2.2\): missing 'reason'"):
        load_file(path)


def test_a_malformed_range_and_invalid_yaml_are_refused(tmp_path):
    path = _broken_copy(tmp_path, "cuda_arch.yaml", lambda d: d["tensorflow_binaries"][0].update(tensorflow="~~2.1"))
    with pytest.raises(StackError, match="malformed version range"):
        load_file(path)
    bad = tmp_path / "stacks.yaml"
    bad.write_text("stacks: [unclosed\n")
    with pytest.raises(StackError, match="stacks/data/stacks.yaml: not valid YAML"):
        load_file(bad)
    assert "\n" not in str(pytest.raises(StackError, load_file, bad).value)


def test_the_real_files_pass_validation(tmp_path):
    for name in SCHEMA:
        shutil.copy(DATA_DIR / name, tmp_path / name)
        assert load_file(tmp_path / name)
