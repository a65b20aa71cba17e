"""The labelling session and its HTTP server (without a browser), the seeded order, face crops."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from tests.conftest import default_sigint
import yaml
from click.testing import CliRunner

from frbench.cli import main
from frbench.errors import DatasetError, FrbenchError
from frbench.cli import label as commands
from frbench.label.crops import CENTRE_SHARE, crop_box, face_crop_jpeg
from frbench.label.files import label_row, read_label_file, write_label_file
from frbench.label.order import (
    ITA_CUT,
    ORDERS,
    labelling_order,
    read_probabilities,
    uncertainty_from_ita,
    uncertainty_from_p_darker,
)
from frbench.label.server import HOST, LabelSession, StaleAnswer, make_server, page_html

# (subject, number of images, BGR colour of its "face")
TINY = [("Ada", 1, (60, 90, 200)), ("Bea", 3, (40, 60, 100)), ("Cid", 5, (150, 170, 230)),
        ("Dov", 1, (30, 40, 70)), ("Eli", 2, (120, 150, 210)), ("Fay", 1, (80, 110, 160))]  # fmt: skip


def make_tiny_dataset(root: Path) -> Path:
    """A folder-per-identity dataset of flat-colour 'faces' (no detector finds one: centre crops)."""
    for subject, n, colour in TINY:
        (root / subject).mkdir(parents=True)
        for k in range(1, n + 1):
            image = np.full((250, 250, 3), 200, dtype=np.uint8)
            cv2.ellipse(image, (125, 125), (55 + 5 * k, 75), 0, 0, 360, colour, -1)
            cv2.putText(image, f"{subject[0]}{k}", (100, 140), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 2)
            cv2.imwrite(str(root / subject / f"{subject}_{k:04d}.png"), image)
    return root


def tiny_config(tmp_path: Path) -> Path:
    root = make_tiny_dataset(tmp_path / "tiny")
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"name": "tiny-label", "dataset": {"name": "tiny", "format": "folder", "root": str(root)}}))
    return config


def tiny_images(tmp_path: Path) -> pd.DataFrame:
    root = make_tiny_dataset(tmp_path / "tiny")
    rows = [(f"{s}/{p.name}", str(p), s) for s, _, _ in TINY for p in sorted((root / s).iterdir())]
    return pd.DataFrame(rows, columns=["image_id", "path", "subject_id"])


SUBJECTS = [s for s, _, _ in TINY]


# --- order -----------------------------------------------------------------------------------


def test_random_order_is_seeded_and_independent_of_input_order():
    a = labelling_order(SUBJECTS, seed=3)
    assert sorted(a) == sorted(SUBJECTS)
    assert labelling_order(SUBJECTS[::-1], seed=3) == a
    orders = {tuple(labelling_order(SUBJECTS, seed=s)) for s in range(10)}
    assert len(orders) > 5


def test_uncertain_first_orders_by_uncertainty_nan_first_ties_random():
    u = [0.1, np.nan, 0.9, 0.1, 0.5, 0.1]
    order = labelling_order(SUBJECTS, seed=4, order="uncertain-first", uncertainty=u)
    assert order[:3] == ["Bea", "Cid", "Eli"]
    # the three equal ones keep their seeded random order
    random = [s for s in labelling_order(SUBJECTS, seed=4) if s in {"Ada", "Dov", "Fay"}]
    assert order[3:] == random


def test_uncertainty_measures():
    assert uncertainty_from_p_darker([0.5, 0.0, 1.0, 0.25, np.nan]).tolist()[:4] == [1.0, 0.0, 0.0, 0.5]
    with pytest.raises(ValueError):
        uncertainty_from_p_darker([1.2])
    assert ITA_CUT == 28.0  # the lighter/darker boundary of the ITA categories
    assert uncertainty_from_ita([28.0, 38.0, 18.0]).tolist() == [0.0, -10.0, -10.0]


def test_read_probabilities(tmp_path):
    good = tmp_path / "p.csv"
    good.write_text("subject_id,p_darker\nAda,0.5\nBea,\nCid,1\n")
    p = read_probabilities(good, SUBJECTS)
    assert p["Ada"] == 0.5 and np.isnan(p["Bea"]) and p["Cid"] == 1.0 and np.isnan(p["Dov"])
    for text, message in [
        ("subject_id,p\nAda,0.5\n", "p.csv:1: header"),
        ("subject_id,p_darker\nAda,0.5\nZed,0.1\n", "p.csv:3: subject 'Zed' is not in the dataset"),
        ("subject_id,p_darker\nAda,0.5\nAda,0.1\n", "p.csv:3: subject 'Ada' is listed twice"),
        ("subject_id,p_darker\nAda,1.5\n", "p.csv:2: p_darker '1.5' is not a probability"),
        ("subject_id,p_darker\nAda,nan\n", "p.csv:2: p_darker 'nan'"),
        ("subject_id,p_darker\nAda,high\n", "p.csv:2: p_darker 'high'"),
    ]:
        good.write_text(text)
        with pytest.raises(DatasetError, match=message):
            read_probabilities(good, SUBJECTS)


def test_cli_choices_are_the_library_s():
    from frbench.label.agreement import UNSURE_RULES

    assert commands.ORDERS == ORDERS
    unsure = next(p for p in commands.agreement_command.params if p.name == "unsure")
    assert tuple(unsure.type.choices) == UNSURE_RULES


# --- crops -----------------------------------------------------------------------------------


def test_centre_crop_box_and_face_box():
    side = round(CENTRE_SHARE * 250)
    assert crop_box((250, 250, 3), None) == (125 - side // 2, 125 - side // 2, 125 - side // 2 + side, 125 - side // 2 + side)
    # a face near the top-left corner: the square is shifted inside the image, not cut
    x0, y0, x1, y1 = crop_box((250, 250), (0, 0, 60, 60))
    assert (x0, y0) == (0, 0) and x1 - x0 == y1 - y0 == 108
    # larger than the image: cut to it
    assert crop_box((100, 300), (100, 0, 200, 100)) == (60, 0, 240, 100)


def test_face_crop_jpeg_and_placeholders(tmp_path):
    images = tiny_images(tmp_path)
    data = face_crop_jpeg(images["path"].iloc[0], size=128)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (128, 128, 3)
    # the ellipse's colour fills the centre of the crop
    assert np.abs(decoded[64, 64].astype(int) - np.array(TINY[0][2])).max() < 40
    missing = cv2.imdecode(np.frombuffer(face_crop_jpeg(tmp_path / "nope.jpg", 64), np.uint8), cv2.IMREAD_COLOR)
    assert missing.shape == (64, 64, 3)


# --- session ---------------------------------------------------------------------------------


def test_session_answers_undo_resume(tmp_path):
    images = tiny_images(tmp_path)
    order = labelling_order(SUBJECTS, seed=1)
    path = tmp_path / "labels" / "kim.csv"
    s = LabelSession(images, order, path, "kim", photos=4)
    state = s.state()
    assert state["done"] == 0 and state["total"] == 6 and state["subject"]["id"] == order[0]
    assert not path.exists()
    s.answer(order[0], "lighter", 3)
    s.answer(order[1], "darker", None)
    assert read_label_file(path)["subject_id"].tolist() == order[:2]  # saved at once
    with pytest.raises(StaleAnswer):
        s.answer(order[0], "darker")
    state = s.undo()
    assert state["subject"]["id"] == order[1] and state["done"] == 1
    assert read_label_file(path)["subject_id"].tolist() == order[:1]
    s.answer(order[1], "unsure", "10")
    # a new session (a restart) resumes at the first unanswered subject
    again = LabelSession(images, order, path, "kim")
    assert again.state()["subject"]["id"] == order[2] and again.state()["done"] == 2
    rows = read_label_file(path)
    assert rows[["skin_tone_binary", "monk"]].values.tolist() == [["lighter", "3"], ["unsure", "10"]]


def test_session_shows_at_most_photos_images_first_by_id(tmp_path):
    images = tiny_images(tmp_path)
    s = LabelSession(images, ["Cid", *[x for x in SUBJECTS if x != "Cid"]], tmp_path / "k.csv", "kim", photos=4)
    assert s.subjects[0].image_ids == tuple(f"Cid/Cid_{k:04d}.png" for k in range(1, 5))
    assert len(s.state()["subject"]["images"]) == 4
    s.answer("Cid", "lighter")
    assert read_label_file(tmp_path / "k.csv")["image_id"].iloc[0].split(";") == list(s.subjects[0].image_ids)


def test_session_refuses_another_annotators_file_and_foreign_subjects(tmp_path):
    images = tiny_images(tmp_path)
    path = tmp_path / "lee.csv"
    write_label_file(path, [label_row("Ada", ["Ada/Ada_0001.png"], "lee", "lighter", None)])
    with pytest.raises(DatasetError, match="holds the answers of 'lee', not 'kim'"):
        LabelSession(images, SUBJECTS, path, "kim")
    write_label_file(path, [label_row("Zed", ["Zed/1.png"], "kim", "lighter", None)])
    with pytest.raises(DatasetError, match=r"lee\.csv:2: subject 'Zed' is not in the dataset"):
        LabelSession(images, SUBJECTS, path, "kim")
    with pytest.raises(ValueError, match="every subject"):
        LabelSession(images, SUBJECTS[:-1], tmp_path / "x.csv", "kim")


def test_finished_session(tmp_path):
    images = tiny_images(tmp_path)
    s = LabelSession(images, SUBJECTS, tmp_path / "k.csv", "kim")
    for subject in SUBJECTS:
        s.answer(subject, "lighter")
    state = s.state()
    assert state["subject"] is None and state["done"] == 6 and state["next_images"] == []
    assert s.undo()["subject"]["id"] == SUBJECTS[-1]


# --- HTTP ------------------------------------------------------------------------------------


@pytest.fixture()
def served(tmp_path):
    session = LabelSession(tiny_images(tmp_path), labelling_order(SUBJECTS, seed=2), tmp_path / "k.csv", "kim")
    server = make_server(session, 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def request(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(HOST, server.port, timeout=600)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def post(server, path, obj, content_type="application/json"):
    return request(server, "POST", path, json.dumps(obj).encode(), {"Content-Type": content_type})


def test_server_listens_on_loopback_only(served):
    assert served.server_address[0] == "127.0.0.1"
    assert served.url == f"http://127.0.0.1:{served.port}/"


def test_page_has_no_external_reference_and_a_strict_policy(served):
    response, body = request(served, "GET", "/")
    assert response.status == 200
    policy = response.getheader("Content-Security-Policy")
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "img-src 'self'" in policy
    text = body.decode()
    assert text == page_html().decode()
    for marker in ("http://", "https://", "//fonts", "@import", "<link", "src=\"http"):
        assert marker not in text
    for hex_value in ("#f6ede4", "#d7bd96", "#a07e56", "#292420"):
        assert hex_value in text  # the Monk swatches are inline


def test_answer_undo_and_crops_over_http(served):
    state = json.loads(request(served, "GET", "/state")[1])
    first = state["subject"]["id"]
    response, data = request(served, "GET", state["subject"]["images"][0])
    assert response.status == 200 and response.getheader("Content-Type") == "image/jpeg" and data[:2] == b"\xff\xd8"
    response, data = post(served, "/answer", {"subject": first, "binary": "darker", "monk": 7})
    assert response.status == 200
    assert json.loads(data)["done"] == 1
    assert read_label_file(served.session.labels_path)[["subject_id", "monk"]].values.tolist() == [[first, "7"]]
    response, data = post(served, "/answer", {"subject": first, "binary": "darker"})
    assert response.status == 409 and json.loads(data)["state"]["done"] == 1
    response, data = post(served, "/undo", {})
    assert response.status == 200 and json.loads(data)["subject"]["id"] == first


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status"),
    [
        ("GET", "/state", None, {"Host": "evil.example:80"}, 403),
        ("POST", "/undo", b"{}", {"Host": "evil.example", "Content-Type": "application/json"}, 403),
        ("POST", "/undo", b"{}", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ("POST", "/undo", b"{}", {"Content-Type": "text/plain"}, 415),
        ("POST", "/answer", b"not json", {"Content-Type": "application/json"}, 400),
        ("POST", "/answer", b'{"subject": "x", "binary": "maybe"}', {"Content-Type": "application/json"}, 400),
        ("GET", "/crop/99/0.jpg", None, {}, 404),
        ("GET", "/crop/0/9.jpg", None, {}, 404),
        ("GET", "/crop/../../etc/passwd", None, {}, 404),
        ("GET", "/other", None, {}, 404),
    ],
)
def test_server_refuses(served, method, path, body, headers, status):
    response, _ = request(served, method, path, body, headers)
    assert response.status == status
    assert not served.session.labels_path.exists()


def test_bad_monk_over_http_is_refused_and_nothing_saved(served):
    first = served.session.state()["subject"]["id"]
    response, data = post(served, "/answer", {"subject": first, "binary": "darker", "monk": 11})
    assert response.status == 400 and "Monk value 11" in json.loads(data)["error"]
    assert not served.session.labels_path.exists()


def test_port_in_use_is_a_one_line_error(served):
    with pytest.raises(FrbenchError, match=f"cannot listen on 127.0.0.1:{served.port}"):
        make_server(served.session, served.port)


# --- the command -----------------------------------------------------------------------------


def test_cli_uncertain_first_from_probabilities_serves_the_most_uncertain_first(tmp_path, processes):
    config = tiny_config(tmp_path)
    probabilities = tmp_path / "p.csv"
    probabilities.write_text("subject_id,p_darker\nAda,0.05\nBea,0.9\nCid,0.45\nDov,0.99\nEli,0.2\nFay,0.7\n")
    labels = tmp_path / "labels.csv"
    cmd = [sys.executable, "-m", "frbench.cli", "label", "skin-tone", str(config), "--annotator", "kim", "--port", "0",
           "--order", "uncertain-first", "--probabilities", str(probabilities), "-o", str(labels)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    processes.append(proc)  # killed at teardown if anything below fails
    # the URL line is the event "listening"; no timeout guesses how fast this machine is
    url = proc.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), proc.stderr.read()
    port = int(url.rsplit(":", 1)[1].strip("/"))
    conn = http.client.HTTPConnection(HOST, port, timeout=600)
    seen = []
    for _ in range(3):
        conn.request("GET", "/state")
        subject = json.loads(conn.getresponse().read())["subject"]["id"]
        seen.append(subject)
        body = json.dumps({"subject": subject, "binary": "unsure"})
        conn.request("POST", "/answer", body, {"Content-Type": "application/json"})
        assert conn.getresponse().read()
    conn.close()
    # |2p - 1|: Cid 0.1, Fay 0.4, Eli 0.6, ...
    assert seen == ["Cid", "Fay", "Eli"]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    assert proc.returncode == 130 and "stopped by SIGINT; 3 of 6 answered, saved in" in err
    assert read_label_file(labels)["subject_id"].tolist() == ["Cid", "Fay", "Eli"]


def test_cli_stopped_without_answers_says_no_file_was_written(tmp_path, processes):
    config = tiny_config(tmp_path)
    labels = tmp_path / "alice.csv"
    cmd = [sys.executable, "-m", "frbench.cli", "label", "skin-tone", str(config), "--annotator", "alice",
           "--port", "0", "-o", str(labels)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    processes.append(proc)
    assert proc.stdout.readline().startswith("http://127.0.0.1:"), proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate()
    assert proc.returncode == 130, err
    assert f"stopped by SIGINT; no answer given, so no label file was written ({labels})" in err
    assert "saved in" not in err and not labels.exists()


def test_cli_refuses_probabilities_without_uncertain_first(tmp_path):
    result = CliRunner().invoke(main, ["label", "skin-tone", "x.yaml", "--probabilities", "p.csv"])
    assert result.exit_code == 2 and "--probabilities is for --order uncertain-first" in result.output


def test_cli_bad_probabilities_file_is_one_line(tmp_path):
    config = tiny_config(tmp_path)
    bad = tmp_path / "p.csv"
    bad.write_text("subject_id,p_darker\nNobody,0.5\n")
    result = CliRunner().invoke(
        main, ["label", "skin-tone", str(config), "--order", "uncertain-first", "--probabilities", str(bad), "--port", "0"]
    )
    assert result.exit_code == 2
    assert "p.csv:2: subject 'Nobody' is not in the dataset" in result.output and "Traceback" not in result.output
