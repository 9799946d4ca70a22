"""The artifacts browser (previews of text, images, tables; folders) and saved views,
with the files a careless or hostile user logs: script in SVG and HTML, a file that
claims to be an image, names that try to climb out of the run."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from ui_populate import many_runs
from ui_site import screenshot, threaded_server

import cairn
from cairn.access.types import OpenGuard
from cairn.server.app import create_app


def _png(width: int = 32, height: int = 16) -> bytes:
    """A real PNG: a red-to-blue gradient."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes([255 - x * 8, 0, x * 8]) for x in range(width))
        for _ in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


EVIL = "<script>document.title='pwned'</script>"


@pytest.fixture
def art_site(workspace: Any, tmp_path: Path) -> Any:
    files = tmp_path / "files"
    (files / "plots").mkdir(parents=True)
    (files / "notes.md").write_text("# Findings\n\nAUC went up.\n" + EVIL, encoding="utf-8")
    (files / "roc.png").write_bytes(_png())
    (files / "scores.csv").write_text(
        "id,score\n" + "".join(f"{i},{i / 1000}\n" for i in range(500)), encoding="utf-8"
    )
    (files / "plots" / "loss.png").write_bytes(_png(8, 8))
    (files / "plots" / "readme.txt").write_text("plots of the run\n", encoding="utf-8")
    (files / "evil.svg").write_text(f'<svg xmlns="http://www.w3.org/2000/svg">{EVIL}</svg>')
    (files / "fake.png").write_text(f"<html>{EVIL}</html>", encoding="utf-8")
    (files / "weights.bin").write_bytes(bytes(range(256)) * 8)
    tracking = workspace.tracking
    exp = tracking.create_experiment("arts")
    run = tracking.create_run(exp.id, name="with-files")
    from cairn.tracking.client import TrackingClient

    c = TrackingClient(workspace)
    for name in ("notes.md", "roc.png", "scores.csv", "evil.svg", "fake.png", "weights.bin"):
        c.log_artifact(run.id, files / name)
    c.log_artifact(run.id, files / "plots")
    other = tracking.create_run(exp.id, name="other")
    tracking.end_run(run.id, cairn.RunStatus.FINISHED)
    tracking.end_run(other.id, cairn.RunStatus.FINISHED)
    with threaded_server(
        create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    ) as url:
        yield url, run.id, other.id


def test_the_run_page_browses_and_previews_artifacts(art_site: Any, page: Any) -> None:
    url, run_id, _ = art_site
    page.goto(f"{url}/ui/runs/{run_id}")
    names = page.locator("table#artifact-list tbody td:first-child").all_inner_texts()
    assert names == [
        "evil.svg",
        "fake.png",
        "notes.md",
        "plots",
        "roc.png",
        "scores.csv",
        "weights.bin",
    ]

    page.click("table#artifact-list >> text=roc.png")
    page.wait_for_selector("#preview[data-type=image] img")
    # The browser decoded it as a picture of the logged size.
    page.wait_for_function("() => document.querySelector('#preview img').naturalWidth === 32")
    screenshot(page, "artifact-image")

    page.goto(f"{url}/ui/runs/{run_id}/artifacts?name=scores.csv")
    assert page.locator("#preview[data-type=table] tbody tr").count() == 100
    assert page.locator("#preview thead").inner_text().split() == ["id", "score"]
    screenshot(page, "artifact-table")

    page.goto(f"{url}/ui/runs/{run_id}/artifacts?name=notes.md")
    assert "AUC went up." in page.locator("pre.text-preview").inner_text()
    assert EVIL in page.locator("pre.text-preview").inner_text()  # shown as text ...
    assert page.title() != "pwned"  # ... never run

    page.goto(f"{url}/ui/runs/{run_id}/artifacts?name=plots")
    assert page.locator("table#files tbody tr").count() == 2
    page.click("table#files >> text=readme.txt")
    page.wait_for_url(re.compile(r"path=readme.txt"))
    assert "plots of the run" in page.locator("pre.text-preview").inner_text()
    screenshot(page, "artifact-folder-file")


def test_script_in_artifacts_never_runs_and_fakes_are_not_images(art_site: Any, page: Any) -> None:
    url, run_id, _ = art_site
    for name in ("evil.svg", "fake.png"):
        page.goto(f"{url}/ui/runs/{run_id}/artifacts?name={name}")
        assert page.locator("#preview").get_attribute("data-type") == "text"
        assert page.title() != "pwned"
        raw = httpx.get(f"{url}/ui/runs/{run_id}/artifacts/raw", params={"name": name})
        assert raw.headers["content-type"] == "application/octet-stream"
        assert raw.headers["content-disposition"].startswith("attachment")
        assert raw.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in raw.headers["content-security-policy"]
    binary = httpx.get(
        f"{url}/ui/runs/{run_id}/artifacts", params={"name": "weights.bin", "format": "json"}
    )
    assert binary.json()["preview"]["type"] == "binary"
    image = httpx.get(f"{url}/ui/runs/{run_id}/artifacts/raw", params={"name": "roc.png"})
    assert image.headers["content-type"] == "image/png" and image.content == _png()


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"name": "../../cairn.toml"}, 404, "has no artifact named '../../cairn.toml'"),
        ({"name": "plots", "path": "../notes.md"}, 404, "has no file '../notes.md'"),
        ({"name": "notes.md", "path": "x"}, 400, "is a file; it has no path"),
        ({"name": ""}, 404, "has no artifact named ''"),
    ],
)
def test_artifact_requests_cannot_leave_the_run(
    art_site: Any, params: dict[str, str], status: int, message: str
) -> None:
    url, run_id, other = art_site
    for path in ("artifacts", "artifacts/raw"):
        r = httpx.get(f"{url}/ui/runs/{run_id}/{path}", params={**params, "format": "json"})
        assert r.status_code == status, r.text
        assert message in r.json()["error"]["message"]
    # Another run's artifact, asked for through a run that does not have it.
    r = httpx.get(f"{url}/ui/runs/{other}/artifacts/raw", params={"name": "roc.png"})
    assert r.status_code == 404


def test_a_saved_view_reopens_the_same_table(workspace: Any, page: Any) -> None:
    many_runs(workspace, 300, "views")
    with threaded_server(
        create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    ) as url:
        page.goto(
            f"{url}/ui/runs?experiment=views&filter=metrics.acc+>+0.99&sort=metrics.acc+desc"
            "&cols=metrics.acc,params.p1&size=25"
        )
        expected = page.locator("table#runs tbody tr[data-run]").all_inner_texts()
        page.click("#views summary")
        page.fill("#view-name", "<b>best</b>")
        page.click("#save-view")
        link = page.locator("#saved-views a")
        assert link.inner_text() == "<b>best</b>"  # the name stays text
        screenshot(page, "runs-saved-view")
        page.goto(f"{url}/ui/runs?experiment=views")
        page.click("#views summary")
        page.click("#saved-views >> text=<b>best</b>")
        page.wait_for_url(re.compile(r"filter=metrics.acc"))
        assert page.locator("table#runs tbody tr[data-run]").all_inner_texts() == expected
        assert page.locator("input[name=cols]").input_value() == "metrics.acc,params.p1"
        page.click("#views summary")
        page.click("#saved-views button")
        assert page.locator("#saved-views li").count() == 0
