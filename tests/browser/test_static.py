"""``GET /`` and ``GET /static/{name}``: the page's files, and nothing else of the package."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.routes.page import STATIC, static_file
from api.settings import Settings


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings.from_env())) as c:
        yield c


def test_the_page_and_its_files(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # every file the page loads is one it references under /static/ (no other host)
    html = r.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    for name in ("app.js", "evaluate.js", "jsonpos.js", "graph.js", "charts.js", "share.js",
                 "style.css"):
        f = client.get(f"/static/{name}")
        assert f.status_code == 200, name
        assert f.content == (STATIC / name).read_bytes()
        if name.endswith(".js"):
            assert f.headers["content-type"].startswith("text/javascript")
            # the SVG namespace is a name, not a request
            text = f.text.replace('"http://www.w3.org/2000/svg"', "")
            assert "http://" not in text and "https://" not in text, name
            for imported in re.findall(r'from "\./([\w.]+)"', f.text):
                assert (STATIC / imported).is_file(), (name, imported)


@pytest.mark.parametrize("name", ["../main.py", "..%2Fmain.py", "%2e%2e/main.py",
                                  "..%5Cmain.py", "nope.js", ".", "%00.js"])
def test_nothing_outside_the_page_is_served(client: TestClient, name: str) -> None:
    r = client.get(f"/static/{name}")
    assert r.status_code == 404
    assert "def create_app" not in r.text


def test_static_file_refuses_what_leaves_the_folder() -> None:
    assert static_file("app.js") == STATIC / "app.js"
    for name in ("../main.py", "/etc/passwd", "..\\main.py", "a\x00.js", "", "../static/x.py"):
        assert static_file(name) is None, name
