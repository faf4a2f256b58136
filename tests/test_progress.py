"""Progress on stderr: Rich with a live bar on a terminal, plain stamped lines elsewhere."""

from __future__ import annotations

import re

import pytest

from ptenv.models import Transfer
from ptenv.report import ProgressDisplay


def test_off_a_terminal_progress_is_stamped_lines_and_a_transfer_every_ten_seconds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    display = ProgressDisplay()
    assert not display.live  # pytest's captured stderr is not a terminal
    display.line("resolve: reading the machine")
    display.transfer(Transfer("uv install", 500_000, None, 11.0))  # under a megabyte: quiet
    display.transfer(Transfer("uv install", 1_500_000_000, None, 12.0))
    display.transfer(Transfer("uv install", 1_600_000_000, None, 13.0))  # 1 s after the last
    display.transfer(Transfer("uv install", 2_000_000_000, None, 20.0, done=True))
    lines = capsys.readouterr().err.splitlines()
    assert re.fullmatch(r" *\d+\.\ds → resolve: reading the machine", lines[0])
    assert lines[1].endswith("→ uv install: 1.5 GB written in 12 s (125.0 MB/s)")
    assert lines[2].endswith("→ uv install: 2.0 GB written in 20 s (100.0 MB/s)")
    assert len(lines) == 3


def test_quiet_says_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    display = ProgressDisplay(quiet=True)
    display.line("resolve")
    display.transfer(Transfer("uv install", 2_000_000_000, 2_800_000_000, 20.0, done=True))
    assert capsys.readouterr().err == ""


def test_the_live_bar_ends_with_the_figures_against_the_total(
    capsys: pytest.CaptureFixture[str],
) -> None:
    display = ProgressDisplay()
    display.live = True  # as on a terminal; Rich renders to the captured stream
    display.transfer(Transfer("uv install", 10**9, None, 5.0))
    display.transfer(Transfer("uv install", 2 * 10**9, 2_800_000_000, 20.0))
    display.transfer(Transfer("uv install", 2_800_000_000, 2_800_000_000, 28.0, done=True))
    err = capsys.readouterr().err
    assert "uv install: 2.8 GB of about 2.8 GB written in 28 s (100.0 MB/s)" in err


def test_the_last_line_of_a_transfer_is_not_said_twice(capsys: pytest.CaptureFixture[str]) -> None:
    display = ProgressDisplay()
    display.transfer(Transfer("uv resolve", 699_000_000, None, 10.0))
    display.transfer(Transfer("uv resolve", 699_000_000, None, 10.2, done=True))
    assert len(capsys.readouterr().err.splitlines()) == 1
