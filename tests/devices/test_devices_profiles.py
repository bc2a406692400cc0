"""Device profiles, the inventory file, ``--host`` parsing, preflight parsing/checks, ``bnn-deploy devices``.

Preflight parsing is checked on the script's real output on this machine and on the output a
Raspberry Pi 4 gives (Raspberry Pi OS values: ``/proc/cpuinfo`` with ``Model``, ``vcgencmd
get_throttled``, ``ondemand`` governor), including the 64-bit-kernel + 32-bit-userland case of
32-bit Raspberry Pi OS on a Pi 4.
"""

from __future__ import annotations

import json
import os
import platform

import pytest

from bnn_deploy.cli import main
from bnn_deploy.core.errors import BnnDeployError
from bnn_deploy.devices.inventory import inventory_path, load_inventory, parse_host, resolve_device
from bnn_deploy.devices.preflight import check_facts, gather_facts, parse_facts, render_preflight, throttle_states
from bnn_deploy.devices.profiles import PROFILES, get_profile, list_profiles
from bnn_deploy.devices.transport import check_removable
from bnn_deploy.devices.transport_local import LocalTransport

PI4_PREFLIGHT = """\
@@uname_m
aarch64
@@uname_a
Linux raspberrypi 6.6.51+rpt-rpi-v8 #1 SMP PREEMPT Debian 1:6.6.51-1+rpt3 (2024-10-08) aarch64 GNU/Linux
@@long_bit
64
@@glibc
glibc 2.36
@@nproc
4
@@cpuinfo
processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x0
CPU part	: 0xd08
CPU revision	: 3

Revision	: c03114
Serial		: 100000003a2b1c0d
Model		: Raspberry Pi 4 Model B Rev 1.4
@@dt_model
Raspberry Pi 4 Model B Rev 1.4\x00
@@governor
ondemand
@@cur_freq
600000
@@max_freq
1800000
@@temp
61820
@@throttled
throttled=0x50000
@@meminfo
MemTotal:        3884376 kB
MemFree:         3155408 kB
MemAvailable:    3440076 kB
@@os_release
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
@@android_sdk
@@end
"""

ARM64_BINARY = {
    "path": "/x/lce_benchmark_model",
    "kind": "elf",
    "machine": "AArch64",
    "bits": 64,
    "arch": "aarch64",
    "glibc": "2.28",
    "android": False,
}


# ---------------------------------------------------------------- profiles


def test_profiles_have_the_facts_bench_needs():
    assert list(PROFILES) == ["pi4", "pi5", "pi3-64", "android-arm64", "host"]
    for p in list_profiles():
        for key in ("arch", "cores", "clock_mhz", "ram_gb", "expected_runtime", "lce_target", "transport", "work_dir"):
            assert key in p, (p["name"], key)
    assert get_profile("pi4")["lce_target"] == "arm64" and get_profile("pi4")["cores"] == 4
    assert get_profile("pi5")["clock_mhz"] == 2400
    assert get_profile("android-arm64")["transport"] == "adb"
    assert get_profile("android-arm64")["work_dir"] == "/data/local/tmp"
    host = get_profile("host")
    assert host["arch"] == platform.machine() and host["cores"] == os.cpu_count()
    with pytest.raises(BnnDeployError, match=r"unknown device 'pi6'; choose a profile \(pi4, pi5"):
        get_profile("pi6")


# ---------------------------------------------------------------- inventory


def test_inventory_round_trip_and_overrides(tmp_path):
    inv = tmp_path / "devices.toml"
    inv.write_text("""\
[devices.kitchen-pi]
profile = "pi4"
host = "192.0.2.10"
user = "pi"
port = 2222
key = "~/.ssh/id_pi"
work_dir = "/home/pi/tmp"
runtime_bin = "/home/pi/lce_benchmark_model"

[devices.phone]
profile = "android-arm64"
serial = "R58M123ABC"
""")
    entries = load_inventory(inv)
    assert set(entries) == {"kitchen-pi", "phone"}
    dev = resolve_device("kitchen-pi", inventory=inv)
    assert (dev.transport, dev.host, dev.user, dev.port) == ("ssh", "192.0.2.10", "pi", 2222)
    assert dev.runtime_bin == "/home/pi/lce_benchmark_model" and dev.work_dir == "/home/pi/tmp"
    assert dev.address() == "pi@192.0.2.10:2222"
    over = resolve_device("kitchen-pi", inventory=inv, host="admin@192.0.2.11", key="/k")
    assert (over.user, over.host, over.port, over.key) == ("admin", "192.0.2.11", 2222, "/k")
    phone = resolve_device("phone", inventory=inv)
    assert phone.transport == "adb" and phone.address() == "adb:R58M123ABC"
    assert resolve_device("phone", inventory=inv, serial="OTHER").serial == "OTHER"
    # A profile name is a device too, given an address.
    pi5 = resolve_device("pi5", inventory=inv, host="raspberrypi.local")
    assert pi5.transport == "ssh" and pi5.port == 22 and pi5.user is None
    assert "key" not in json.dumps(pi5.facts()).replace('"key": null', "")


@pytest.mark.parametrize(
    "text, message",
    [
        ('[devices.a]\nprofile = "pi4"\nhots = "x"\n', r"unknown key\(s\) hots"),
        ('[devices.a]\nprofile = "pi9"\n', r"unknown profile 'pi9'"),
        ('[devices.a]\nhost = "x"\n', r"needs profile = one of"),
        ('[devices.a]\nprofile = "pi4"\nport = "22"\n', r"port must be a int"),
        ('[devices.a]\nprofile = "pi4"\nport = 70000\n', r"not a TCP port"),
        ('[devices.a]\nprofile = "pi4"\ntransport = "telnet"\n', r"transport must be one of"),
        ('[boards.a]\nprofile = "pi4"\n', r"unknown table\(s\) boards"),
        ('[devices.a\nprofile = "pi4"\n', r"is not valid TOML"),
    ],
)
def test_inventory_errors_are_one_line(tmp_path, text, message):
    inv = tmp_path / "devices.toml"
    inv.write_text(text)
    with pytest.raises(BnnDeployError, match=message) as err:
        load_inventory(inv)
    assert "\n" not in str(err.value)


def test_inventory_location(tmp_path, monkeypatch):
    monkeypatch.delenv("BNN_DEPLOY_DEVICES", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert inventory_path() == tmp_path / "bnn-deploy" / "devices.toml"
    assert load_inventory() == {}  # the default file may be absent
    monkeypatch.setenv("BNN_DEPLOY_DEVICES", str(tmp_path / "mine.toml"))
    # a file named explicitly must exist, and the hint names what named it (no --inventory was given)
    with pytest.raises(BnnDeployError, match=r"mine\.toml \(named by \$BNN_DEPLOY_DEVICES\) does not exist") as err:
        load_inventory()
    assert "--inventory" not in str(err.value) and "unset BNN_DEPLOY_DEVICES" in str(err.value)
    with pytest.raises(BnnDeployError, match=r"other\.toml does not exist; .* or leave out --inventory"):
        load_inventory(tmp_path / "other.toml")


@pytest.mark.parametrize(
    "spec, parsed",
    [
        ("pi@raspberrypi.local", ("pi", "raspberrypi.local", None)),
        ("pi@192.0.2.7:2222", ("pi", "192.0.2.7", 2222)),
        ("192.0.2.7", (None, "192.0.2.7", None)),
        ("root@[fe80::1]:22", ("root", "fe80::1", 22)),
        ("fe80::1", (None, "fe80::1", None)),
    ],
)
def test_parse_host(spec, parsed):
    assert parse_host(spec) == parsed


@pytest.mark.parametrize("spec", ["pi@host:ssh", "@host", "pi@host:0", "[fe80::1", "pi@"])
def test_parse_host_errors(spec):
    with pytest.raises(BnnDeployError, match="--host"):
        parse_host(spec)


def test_host_and_serial_together_are_refused(tmp_path):
    """Both say how to reach the board (SSH, ADB): the pair used to pick ADB silently."""
    with pytest.raises(BnnDeployError, match=r"--host pi@192\.0\.2\.7 \(SSH\) and --serial R58M \(ADB\) are two ways"):
        resolve_device("pi4", inventory=tmp_path / "absent-never-read.toml", host="pi@192.0.2.7", serial="R58M")


def test_device_needs_an_address():
    with pytest.raises(BnnDeployError, match=r"device pi4 is reached over SSH but has no address"):
        resolve_device("pi4", inventory=None)


# ---------------------------------------------------------------- preflight


def test_preflight_parses_a_pi4():
    facts = parse_facts(PI4_PREFLIGHT)
    assert facts["cpu_model"] == "Raspberry Pi 4 Model B Rev 1.4"
    assert (facts["arch"], facts["userland_bits"], facts["glibc"], facts["cores"]) == ("aarch64", 64, "2.36", 4)
    assert facts["governor"] == "ondemand" and facts["max_freq_mhz"] == 1800
    assert facts["temperature_c"] == 61.8 and facts["throttled"] == 0x50000
    assert facts["mem_available_bytes"] == 3440076 * 1024
    assert facts["emulated"] is False
    errors, warnings = check_facts(facts, get_profile("pi4"), binary=ARM64_BINARY, threads=4, memory_need=100 * 2**20)
    assert errors == []
    assert any("governor is ondemand" in w for w in warnings)
    assert any("throttled since boot (under-voltage, throttled," in w for w in warnings)
    assert "Raspberry Pi 4 Model B Rev 1.4" in render_preflight({"facts": facts, "warnings": warnings})


def test_preflight_refuses_arm64_binary_on_32bit_userland():
    """32-bit Raspberry Pi OS on a Pi 4: a 64-bit kernel (uname -m aarch64) under armhf userland."""
    facts = parse_facts(PI4_PREFLIGHT.replace("@@long_bit\n64", "@@long_bit\n32"))
    errors, warnings = check_facts(facts, get_profile("pi4"), binary=ARM64_BINARY)
    assert errors == [
        "the board's userland is 32-bit (getconf LONG_BIT = 32 on a 64-bit kernel) "
        "but lce_benchmark_model is an AArch64 program; install a 64-bit OS, or use "
        "a runtime built with build-runtime --target armv7"
    ]
    assert any("32-bit OS" in w and "20x slower" in w for w in warnings)


def test_preflight_memory_glibc_and_throttling_now():
    facts = parse_facts(
        PI4_PREFLIGHT.replace("throttled=0x50000", "throttled=0x50005").replace("glibc 2.36", "glibc 2.24")
    )
    errors, warnings = check_facts(facts, get_profile("pi4"), binary=ARM64_BINARY, memory_need=8 * 2**30, threads=8)
    assert any("needs glibc 2.28 or newer but the board has 2.24" in e for e in errors)
    assert any("3359 MB available but the model needs about 8192 MB" in e for e in errors)
    assert any("throttling NOW (under-voltage, throttled" in w for w in warnings)
    assert any("--threads 8 is more than the board's 4 cores" in w for w in warnings)
    assert throttle_states(0x80008) == (["soft temperature limit"], ["soft temperature limit"])


def test_preflight_script_on_this_machine():
    facts = gather_facts(LocalTransport(), timeout=60)
    assert facts["arch"] == platform.machine().replace("amd64", "x86_64")
    assert facts["userland_bits"] == 64 and facts["cores"] == os.cpu_count()
    assert facts["glibc"] and facts["mem_available_bytes"] > 0
    assert facts["emulated"] is False


def test_preflight_output_cut_short():
    with pytest.raises(BnnDeployError, match="did not finish"):
        parse_facts(PI4_PREFLIGHT.split("@@meminfo")[0])


def test_cleanup_only_removes_our_work_dirs():
    check_removable("/tmp/bnn-deploy-a1B2c3")
    for path in ("/", "/home/pi", "/tmp", "/tmp/bnn-deploy-x/../..", "/data/local/tmp/other"):
        with pytest.raises(ValueError, match="refusing to remove"):
            check_removable(path)


# ---------------------------------------------------------------- bnn-deploy devices


def test_cli_devices(tmp_path, capsys):
    inv = tmp_path / "devices.toml"
    inv.write_text('[devices.kitchen-pi]\nprofile = "pi4"\nhost = "192.0.2.10"\n')
    assert main(["devices", "--inventory", str(inv), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in out["profiles"]] == list(PROFILES)
    assert out["inventory"]["devices"]["kitchen-pi"]["host"] == "192.0.2.10"
    assert main(["devices", "--inventory", str(inv)]) == 0
    text = capsys.readouterr().out
    assert "pi4" in text and "Cortex-A72" in text and "kitchen-pi" in text
    inv.write_text('[devices.x]\nprofile = "pi9"\n')
    assert main(["devices", "--inventory", str(inv)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: inventory") and "unknown profile 'pi9'" in err
    assert err.count("\n") == 1


def test_bad_adb_ports_are_one_line_errors(monkeypatch):
    from bnn_deploy.core.errors import BnnDeployError
    from bnn_deploy.core.values import parse_port
    from bnn_deploy.devices.transport_adb import AdbTransport

    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "five")
    with pytest.raises(BnnDeployError, match="ANDROID_ADB_SERVER_PORT 'five' is not a number"):
        AdbTransport("emulator-5554")
    with pytest.raises(BnnDeployError, match="from 1 to 65535"):
        parse_port("70000", "adb_server '127.0.0.1:70000': port")
    assert parse_port("5037", "port") == 5037
