import logging

import pytest

import km3flow as kp
from km3flow import logger as kplog


def test_the_talks_logging_cell(capsys):
    log_a = kp.logger.get_logger("talk_log_a")
    log_b = kp.logger.get_logger("talk_log_b")
    log_c = kp.logger.get_logger("talk_log_c")
    log_a.setLevel("DEBUG")
    log_b.setLevel("INFO")
    log_a.debug("Entering the debug log function...")
    log_b.info("Preparing some logging demo.")
    log_c.warning("The next line will be an error!")
    log_a.error("It starts to get critical.")
    log_b.critical("FAIL")
    log_a.once("I show this only once!", identifier=5)
    log_a.once("I show this only once!", identifier=5)
    log_b.deprecation("That's so 90es, try the new hipster API!")
    assert capsys.readouterr().err.splitlines() == [
        "DEBUG ++ talk_log_a: Entering the debug log function...",
        "INFO ++ talk_log_b: Preparing some logging demo.",
        "WARNING ++ talk_log_c: The next line will be an error!",
        "ERROR ++ talk_log_a: It starts to get critical.",
        "CRITICAL ++ talk_log_b: FAIL",
        "ONCE ++ talk_log_a: I show this only once!",
        "DEPRECATION ++ talk_log_b: That's so 90es, try the new hipster API!",
    ]


def test_levels_have_the_talks_numbers():
    assert kplog.ONCE == 45 and kplog.DEPRECATION == 46
    assert logging.getLevelName(45) == "ONCE"


def test_once_identifiers_are_independent(capsys):
    log = kp.logger.get_logger("once_test")
    for i in range(3):
        log.once("same text", identifier=i)
    log.once("by text")
    log.once("by text")
    assert capsys.readouterr().err.count("ONCE ++ once_test:") == 4


def test_printer_and_module_printer(capsys):
    printer = kp.logger.get_printer("log_a")
    printer("Just a message")
    assert capsys.readouterr().out == "++ log_a: Just a message\n"

    class AModule(kp.Module):
        def configure(self):
            self.log.info("configure called")

        def process(self, blob):
            self.print("processing blob!")

        def finish(self):
            self.print("Finishing")

    kp.logger.get_logger("AModule").setLevel("INFO")
    pipe = kp.Pipeline()
    pipe.attach(AModule)
    pipe.drain(2)
    captured = capsys.readouterr()
    assert "INFO ++ AModule: configure called" in captured.err
    assert captured.out.count("++ AModule: processing blob!\n") == 2
    assert "++ AModule: Finishing\n" in captured.out
    kp.logger.get_logger("AModule").setLevel(logging.NOTSET)


def test_colours_only_on_terminals():
    fmt = kplog._Formatter(colour=True)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hi", None, None)
    coloured = fmt.format(record)
    assert "\x1b[" in coloured and coloured.endswith("x: hi")
    assert kplog._Formatter(colour=False).format(record) == "WARNING ++ x: hi"


def test_set_level_global_and_env(monkeypatch, capsys):
    log = kp.logger.get_logger("global_level_test")
    try:
        kp.logger.set_level("DEBUG")
        assert log.level == logging.DEBUG
        kp.logger.set_level("WARNING", name="global_level_test")
        assert log.level == logging.WARNING
    finally:
        kp.logger.set_level("NOTSET")
        kplog._global_level = None
    monkeypatch.setenv("KM3FLOW_LOGLEVEL", "ERROR")
    assert kp.logger.get_logger("env_level_test").level == logging.ERROR
    with pytest.raises(ValueError, match="unknown log level"):
        kp.logger.set_level("LOUD")


def test_other_libraries_loggers_are_untouched():
    plain = logging.getLogger("some.other.library")
    assert not isinstance(plain, kplog.Km3Logger)
    assert plain.handlers == []
    upgraded = kp.logger.get_logger("pre_existing")
    assert kp.logger.get_logger("pre_existing") is upgraded
