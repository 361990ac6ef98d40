"""nvidia-smi and /proc/driver/nvidia/version parsers against every captured output in
tests/fixtures (each file's first line names its public source) and the known edge cases."""

import pytest

from facts.gpu import parse_proc_version, parse_smi_query, parse_smi_table

# --- plain table -----------------------------------------------------------------------------

TABLES = {
    # fixture: (driver_version, cuda_version, smi_version, [(index, name, memory_mib, bus)])
    "smi_f4_418.39_titan_x_pascal.txt": (
        "418.39", "10.1", "418.39", [(0, "TITAN X (Pascal)", 12196, "00000000:02:00.0")]),
    "smi_f6_450.57_titan_xp.txt": (
        "450.57", "11.0", "450.57", [(0, "TITAN Xp", 12196, "00000000:17:00.0")]),
    # the excerpt ends inside GPU 1's first row: GPU 1 is listed, its memory is unknown
    "smi_f8_535.129.03_h100.txt": (
        "535.129.03", "12.2", "535.129.03",
        [(0, "NVIDIA H100 80GB HBM3", 81559, "00000000:04:00.0"),
         (1, "NVIDIA H100 80GB HBM3", None, "00000000:05:00.0")]),
    "smi_f10_580.126.09_a100.txt": (
        "580.126.09", "13.0", "580.126.09",
        [(0, "NVIDIA A100-SXM4-40GB", 40960, "00000000:10:1C.0"),
         (1, "NVIDIA A100-SXM4-40GB", 40960, "00000000:10:1D.0")]),
    "smi_f12_531.14_windows_wddm.txt": (
        "531.14", "12.1", "531.14", [(0, "NVIDIA GeForce GTX 1080 Ti", 11264, "00000000:09:00.0")]),
    "smi_610_kmd_layout_composed.txt": (
        "610.43.03", "13.3", "610.43.03",
        [(0, "NVIDIA GeForce RTX 3090 ...", 24576, "00000000:01:00.0"),
         (1, "NVIDIA B200", 183359, "00000000:63:00.0")]),
    "smi_535_mig_composed.txt": (
        "535.104.05", "12.2", "535.104.05", [(0, "NVIDIA A100-SXM4-80GB", 81920, "00000000:07:00.0")]),
    "smi_384_no_cuda_composed.txt": (
        "384.130", None, "384.130", [(0, "GeForce GTX 108...", 11171, "0000:01:00.0")]),
}


@pytest.mark.parametrize("name", sorted(TABLES))
def test_table_layouts(fixture_text, name):
    driver, cuda, smi_version, gpus = TABLES[name]
    parsed = parse_smi_table(fixture_text(name))
    assert parsed["driver_version"] == driver
    assert parsed["cuda_version"] == cuda
    assert parsed["smi_version"] == smi_version
    assert parsed["error"] is None
    assert [(g["index"], g["name"], g["memory_mib"], g["pci_bus_id"]) for g in parsed["gpus"]] == gpus


def test_table_contract_keys(fixture_text):
    """The documented shape (docs/architecture.md, contract 4): these keys, these types (extra keys allowed)."""
    parsed = parse_smi_table(fixture_text("smi_f4_418.39_titan_x_pascal.txt"))
    assert {"driver_version", "cuda_version", "gpus", "error"} <= parsed.keys()
    gpu = parsed["gpus"][0]
    assert isinstance(gpu["index"], int) and isinstance(gpu["memory_mib"], int)
    assert isinstance(gpu["name"], str)


@pytest.mark.parametrize("name", ["smi_f1_no_driver.txt", "smi_f1_transcript.txt"])
def test_no_driver_loaded(fixture_text, name):
    parsed = parse_smi_table(fixture_text(name))
    assert parsed["gpus"] == [] and parsed["driver_version"] is None
    assert parsed["error"] == (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running."
    )


def test_driver_library_mismatch(fixture_text):
    # the whole F2 transcript, /proc lines included: only nvidia-smi's words become the error
    parsed = parse_smi_table(fixture_text("smi_f2_mismatch_transcript.txt"))
    assert parsed["error"] == (
        "Failed to initialize NVML: Driver/library version mismatch; NVML library version: 580.178"
    )
    assert parsed["driver_version"] is None and parsed["gpus"] == []


def test_no_devices(fixture_text):
    parsed = parse_smi_table(fixture_text("smi_no_devices.txt"))
    assert parsed["error"] == "No devices were found"
    assert parsed["gpus"] == []


def test_unknown_failure_text_is_kept_as_error():
    parsed = parse_smi_table("nvidia-smi: stand-in installed without driver libraries\n")
    assert parsed["error"] == "nvidia-smi: stand-in installed without driver libraries"
    assert parse_smi_table("")["error"] == "nvidia-smi printed nothing"


def test_indented_table_and_na_cuda():
    text = "\n".join(
        "    " + line for line in [
            "| NVIDIA-SMI 525.60.13    Driver Version: 525.60.13    CUDA Version: N/A      |",
            "|   0  Tesla T4            On   | 00000000:00:1E.0 Off |                    0 |",
            "| N/A   30C    P8     9W /  70W |      2MiB / 15360MiB |      0%      Default |",
        ]
    )
    parsed = parse_smi_table(text)
    assert parsed["driver_version"] == "525.60.13" and parsed["cuda_version"] is None
    assert parsed["gpus"] == [
        {"index": 0, "name": "Tesla T4", "memory_mib": 15360, "pci_bus_id": "00000000:00:1E.0"}
    ]


def test_memory_not_supported_row():
    text = "\n".join([
        "| NVIDIA-SMI 580.95.05    Driver Version: 580.95.05    CUDA Version: 13.0     |",
        "|   0  NVIDIA GB10                    On  |   0000000F:01:00.0  On |                  N/A |",
        "| N/A   39C    P8              4W /  N/A  | Not Supported          |      0%      Default |",
    ])
    assert parse_smi_table(text)["gpus"][0]["memory_mib"] is None


def test_mig_and_process_rows_are_not_gpus(fixture_text):
    assert len(parse_smi_table(fixture_text("smi_535_mig_composed.txt"))["gpus"]) == 1
    # the process row of the 610 fixture ("|    0   N/A  N/A   1234   G ...") is not a GPU
    assert len(parse_smi_table(fixture_text("smi_610_kmd_layout_composed.txt"))["gpus"]) == 2


# --- --query-gpu CSV -------------------------------------------------------------------------

def test_query_our_fields_with_compute_cap():
    text = (
        "0, NVIDIA GeForce RTX 2080 Ti, 535.129.03, 11019, 00000000:01:00.0, 7.5\n"
        "1, NVIDIA A100-SXM4-40GB, 535.129.03, 40960, 00000000:10:1C.0, 8.0\n"
    )
    rows = parse_smi_query(text)
    assert rows == [
        {"index": 0, "name": "NVIDIA GeForce RTX 2080 Ti", "driver_version": "535.129.03",
         "memory_mib": 11019, "pci_bus_id": "00000000:01:00.0", "compute_capability": "7.5"},
        {"index": 1, "name": "NVIDIA A100-SXM4-40GB", "driver_version": "535.129.03",
         "memory_mib": 40960, "pci_bus_id": "00000000:10:1C.0", "compute_capability": "8.0"},
    ]


def test_query_without_compute_cap_on_old_driver():
    rows = parse_smi_query("0, GeForce RTX 2080 Ti, 440.100, 11019, 00000000:01:00.0\n")
    assert rows[0]["compute_capability"] is None
    assert rows[0]["name"] == "GeForce RTX 2080 Ti"  # no "NVIDIA " prefix on old drivers: as printed
    assert rows[0]["memory_mib"] == 11019


def test_query_rejected_field_gives_no_rows(fixture_text):
    assert parse_smi_query(fixture_text("query_470_invalid_field.txt")) == []
    assert parse_smi_query(fixture_text("smi_no_devices.txt")) == []
    assert parse_smi_query(fixture_text("smi_f1_no_driver.txt")) == []


def test_query_with_header_f14(fixture_text):
    rows = parse_smi_query(fixture_text("query_f14_570_header.txt"))
    assert [(r["index"], r["name"], r["compute_capability"], r["driver_version"]) for r in rows] == [
        (0, "NVIDIA TITAN V", "7.0", "570.86.15"),
        (1, "NVIDIA RTX 5880 Ada Generation", "8.9", "570.86.15"),
    ]
    assert rows[0]["compute_mode"] == "Default"  # other fields kept under nvidia-smi's name


def test_query_compute_cap_only_f14(fixture_text):
    rows = parse_smi_query(fixture_text("query_f14_570_compute_cap_only.txt"))
    assert len(rows) == 1 and rows[0]["compute_capability"] == "8.9" and rows[0]["index"] is None


def test_query_many_fields_f14(fixture_text):
    fields = ("power.limit,power.min_limit,power.max_limit,memory.total,vbios_version,"
              "driver_version,name,gpu_uuid,power.draw,temperature.gpu,temperature.memory,"
              "clocks.current.graphics,clocks.sm,clocks.mem,utilization.gpu,utilization.memory,"
              "fan.speed,pcie.link.width.current,pstate").split(",")
    (row,) = parse_smi_query(fixture_text("query_f14_gpu_utils_440.64.txt"), fields)
    assert row["name"] == "GeForce RTX 2080" and row["driver_version"] == "440.64"
    assert row["memory_mib"] == 7979
    assert row["temperature.memory"] is None  # "N/A"
    assert row["compute_capability"] is None and row["pstate"] == "P2"


def test_query_na_brackets_f14(fixture_text):
    fields = ["memory.total", "memory.free", "memory.used", "temperature.gpu", "fan.speed",
              "utilization.gpu", "utilization.memory"]
    (row,) = parse_smi_query(fixture_text("query_f14_i3pystatus_na.txt"), fields)
    assert row["memory_mib"] == 2004 and row["fan.speed"] is None
    (old,) = parse_smi_query("2004, 2004, 0, 44, [Not Supported], 0, 0", fields)
    assert old["fan.speed"] is None and old["temperature.gpu"] == "44"


def test_query_with_units_and_quoting():
    text = "> index, name, memory.total [MiB]\n> 0, Tesla V100-SXM2-16GB, 16160 MiB\n"
    (row,) = parse_smi_query(text)
    assert row["memory_mib"] == 16160 and row["name"] == "Tesla V100-SXM2-16GB"


# --- /proc/driver/nvidia/version -------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("proc_f16_384.98.txt", {"version": "384.98", "kind": "proprietary", "arch": "x86_64"}),
    ("proc_f16_565.57.01_open.txt", {"version": "565.57.01", "kind": "open", "arch": "x86_64"}),
    ("proc_f16_jetson_35.3.1.txt", {"version": "35.3.1", "kind": "open", "arch": "aarch64"}),
    ("smi_f2_mismatch_transcript.txt",
     {"version": "580.173.02", "kind": "proprietary", "arch": "x86_64"}),
])
def test_proc_version(fixture_text, name, expected):
    assert parse_proc_version(fixture_text(name)) == expected


def test_proc_version_absent():
    assert parse_proc_version("") is None
    assert parse_proc_version("cat: /proc/driver/nvidia/version: No such file or directory") is None
