import subprocess
import sys

import pytest

import km3flow
from km3flow.cli import main as cli
from km3flow.cli.selftest import find_tests


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for name in cli.SUBCOMMANDS:
        assert name in out


def test_version(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.strip() == f"km3flow {km3flow.__version__}"


def test_every_subcommand_has_help(capsys):
    for name in cli.SUBCOMMANDS:
        with pytest.raises(SystemExit) as exit_:
            cli.main([name, "--help"])
        assert exit_.value.code == 0, name
    capsys.readouterr()


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 0
    assert "usage: km3flow" in capsys.readouterr().out


def test_selftest_finds_this_suite():
    assert (find_tests() / "cli" / "test_main.py").is_file()


def test_selftest_runs_pytest_on_a_selection():
    proc = subprocess.run(
        [sys.executable, "-m", "km3flow.cli.main", "test", "-q", "-k",
         "test_blob_str_as_in_the_talk", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout


def test_import_is_light():
    code = ("import sys, km3flow, km3flow.core, km3flow.io; "
            "heavy = [m for m in ('torch', 'uproot', 'dask', 'matplotlib', 'tables', 'pandas') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
