"""Render HTML in a real browser: headless Chromium from the system's package manager, driven by selenium.

``scripts/install-system-deps.sh`` (run by the README's test command)
installs Debian's ``chromium`` and ``chromium-driver``, which are built
from one source and so always match; selenium is told where both are, so
it never downloads a browser or a driver.

Pages are laid out as notebooks show an HTML output:

``standalone``  the fragment alone in a page;
``lab``         nbconvert's ``lab`` template: JupyterLab's stylesheet (the
                CSS of the ``@jupyterlab/*`` packages, which nbconvert
                ships as ``templates/lab/static/index.css``) around JupyterLab's
                output DOM (``div.jp-OutputArea-output.jp-RenderedHTMLCommon``);
``classic``     nbconvert's ``classic`` template: the classic notebook's
                ``style.css`` around its output DOM (``div.output_html.rendered_html``).

The ``lab`` and ``classic`` pages are nbconvert's own HTML output of a
notebook holding the fragment as a ``text/html`` output, so they are also
what nbconvert users see. ``<script src=...>`` tags of remote assets
(RequireJS, MathJax) are dropped: the machine has no network.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HOSTS = ("standalone", "lab", "classic")

#: The flags that run this machine's Chromium headless without network, GPU or a user profile.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)

_REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>", re.IGNORECASE)


def missing() -> str | None:
    """Why the browser cannot run here, or ``None``."""
    absent = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if absent:
        return f"{' and '.join(absent)} not on the PATH: run scripts/install-system-deps.sh"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """A selenium WebDriver for headless Chromium with a new, empty profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pt2canon-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(shutil.which("chromedriver"))))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def page(fragment: str, host: str, folder: Path, name: str) -> Path:
    """Write an HTML page showing ``fragment`` as ``host`` shows an output; returns its path."""
    if host == "standalone":
        html = f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{name}</title></head><body>{fragment}</body></html>'
    else:
        import nbformat
        from nbconvert import HTMLExporter

        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("result")
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": fragment, "text/plain": name})]
        nb.cells = [cell]
        html, _ = HTMLExporter(template_name=host).from_notebook_node(nb)
        html = _REMOTE_SCRIPT.sub("", html)
    path = folder / f"{name}-{host}.html"
    path.write_text(html, encoding="utf-8")
    return path
