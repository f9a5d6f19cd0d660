"""Start Debian's Chromium through its own chromedriver with the project's offline-safe flags.

Selenium is never allowed to download a driver (``Service`` gets an explicit path and
``SE_OFFLINE=true``), the browser never resolves a host name except through its own rules, and
its profile, ``HOME`` and XDG folders live in a temporary directory removed on exit.

>>> with start_browser() as driver:            # doctest: +SKIP
...     driver.get("http://127.0.0.1:8000/")
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from selenium import webdriver
from urllib3.exceptions import HTTPError as ConnectionFailure
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

from cleanmessy import settings
from scraper.errors import BrowserError

CHROMIUM = settings.get("SCRAPER_CHROMIUM")
"""Browser binary (env ``SCRAPER_CHROMIUM``, default Debian's ``/usr/bin/chromium``)."""

CHROMEDRIVER = settings.get("SCRAPER_CHROMEDRIVER")
"""Driver binary (env ``SCRAPER_CHROMEDRIVER``, default Debian's ``/usr/bin/chromedriver``)."""

HOST_RESOLVER_RULES = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"
"""One argv item: without it Chromium sends DNS queries to the machine's resolver."""


def host_resolver_rules(allowed_hosts: tuple[str, ...] = ()) -> str:
    """The resolver flag as one argv item: every host is NOTFOUND but 127.0.0.1 and ``allowed_hosts``.

    With no ``allowed_hosts`` (tests, the fake site, any loopback ``--base-url``) this is exactly
    the flag of docs/testing.md. A real engine passes only its own search hosts, so the browser still cannot
    resolve anything else.
    """
    return HOST_RESOLVER_RULES + "".join(f" , EXCLUDE {host}" for host in allowed_hosts)


def chromium_arguments(
    profile_dir: Path,
    *,
    headful: bool = False,
    window_size: str = "1280,1600",
    allowed_hosts: tuple[str, ...] = (),
) -> list[str]:
    """Chromium's command-line flags, in order; docs/testing.md ("Chromium without the internet") says why each."""
    arguments = [] if headful else ["--headless=new"]
    arguments += [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile_dir}",
        host_resolver_rules(allowed_hosts),
        f"--window-size={window_size}",
    ]
    return arguments


def _check_binaries() -> None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            raise BrowserError(
                f"{path} not found: install it with `sudo apt-get install -y {package}` "
                f"(or point SCRAPER_CHROMIUM / SCRAPER_CHROMEDRIVER at your binaries)"
            )


def _options(profile_dir: Path, *, headful: bool, allowed_hosts: tuple[str, ...]) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    for argument in chromium_arguments(profile_dir, headful=headful, allowed_hosts=allowed_hosts):
        options.add_argument(argument)
    return options


def _first_line(error: WebDriverException) -> str:
    return ((error.msg or str(error)).strip().splitlines() or ["unknown error"])[0]


@contextlib.contextmanager
def start_remote_browser(url: str, *, allowed_hosts: tuple[str, ...] = ()) -> Iterator[webdriver.Remote]:
    """Yield a Chrome session on a remote W3C WebDriver (a Selenium Grid 4 hub, or ``chromedriver --port``).

    The session gets the same flags as a local one; its profile directory is a path on the node
    (``/tmp/...``), which the node's Chromium creates and keeps to itself. The browser binary is
    the node's own.
    """
    options = _options(Path(tempfile.gettempdir()) / f"scraper-remote-{os.urandom(6).hex()}",
                       headful=False, allowed_hosts=allowed_hosts)
    try:
        driver = webdriver.Remote(command_executor=url, options=options)
    except WebDriverException as error:
        raise BrowserError(f"no browser session from the WebDriver at {url} ({_first_line(error)})") from error
    except (OSError, ConnectionFailure) as error:  # refused, unknown host, retries exhausted
        raise BrowserError(f"cannot reach the WebDriver at {url} ({error.__class__.__name__}); "
                           "is the Selenium Grid (or chromedriver --port) running?") from error
    try:
        yield driver
    finally:
        with contextlib.suppress(Exception):
            driver.quit()


@contextlib.contextmanager
def start_browser(*, headful: bool = False, allowed_hosts: tuple[str, ...] = ()) -> Iterator[webdriver.Chrome]:
    """Yield a Chrome WebDriver for Debian's Chromium; quit it and delete its profile afterwards.

    ``allowed_hosts`` are the only names besides 127.0.0.1 the browser may resolve (see
    :func:`host_resolver_rules`); pass ``engine.browser_hosts``.
    """
    _check_binaries()
    settings.export("SE_OFFLINE", "true")  # Selenium Manager must never download a driver
    workdir = Path(tempfile.mkdtemp(prefix="scraper-chromium-"))
    options = _options(workdir / "profile", headful=headful, allowed_hosts=allowed_hosts)
    options.binary_location = CHROMIUM
    env = settings.child_environment(
        HOME=str(workdir / "home"),
        XDG_CONFIG_HOME=str(workdir / "config"),
        XDG_CACHE_HOME=str(workdir / "cache"),
    )
    service = Service(CHROMEDRIVER, env=env)
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException as error:
        shutil.rmtree(workdir, ignore_errors=True)
        raise BrowserError(f"Chromium did not start ({_first_line(error)}); check that chromium and chromium-driver versions match") from error
    try:
        yield driver
    finally:
        with contextlib.suppress(Exception):
            driver.quit()
        shutil.rmtree(workdir, ignore_errors=True)
