"""`difflab report`: an offline HTML page whose images exist, rendered by headless Chromium."""

import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from difflab.cli import cli

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


class _Refs(HTMLParser):
    """Every src/href in the page."""

    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    run = tmp_path_factory.mktemp("report") / "run"
    # labelled, so the page has every figure: samples, loss, per class, inpainting
    r = CliRunner().invoke(
        cli,
        [
            "train",
            "--data",
            "8-gaussians",
            "--out",
            str(run),
            "--steps",
            "100",
            "--width",
            "32",
            "--depth",
            "1",
            "--labels",
            "component",
        ],
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["report", str(run), "--n", "1000"])
    assert r.exit_code == 0, r.output
    return run / "report" / "index.html"


def test_every_reference_is_a_local_file_that_exists(page):
    parser = _Refs()
    parser.feed(page.read_text())
    assert "script" not in parser.tags  # nothing runs, nothing is fetched
    assert parser.refs, "the page references its figures"
    for ref in parser.refs:
        assert "://" not in ref and not ref.startswith("//"), ref
        assert (page.parent / ref).is_file(), ref
    assert "noise floor" in page.read_text()


def test_report_of_a_missing_run_is_one_line():
    r = CliRunner().invoke(cli, ["report", "no/such/run"])
    assert r.exit_code == 2 and r.output.startswith("error:")
    r = CliRunner().invoke(cli, ["report", "--run", "no/such/run"])  # --run as every command
    assert r.exit_code == 2 and r.output.startswith("error:") and "no/such/run" in r.output


@pytest.mark.parametrize("args", [[], ["a", "--run", "b"]])
def test_report_wants_one_run_directory(args):
    r = CliRunner().invoke(cli, ["report", *args])
    assert r.exit_code == 2 and "run director" in r.output and "Traceback" not in r.output


@pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium + chromium-driver not installed "
    "(.ci/run installs them; locally: apt-get install chromium chromium-driver)",
)
def test_page_renders_in_headless_chromium_with_every_image_loaded(page):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        driver.get(Path(page).resolve().as_uri())
        assert "difflab run" in driver.title
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, "
            "i.naturalWidth])"
        )
        assert {src for src, _, _ in images} == {
            "samples.png",
            "loss.png",
            "classes.png",
            "inpainting.png",
        }
        assert all(done and width > 100 for _, done, width in images), images
        rows = driver.execute_script("return document.querySelectorAll('table tr').length")
        assert rows > 10
    finally:
        driver.quit()
