"""Headless Chromium (Debian's chromium and chromium-driver) driven by selenium, for the HTML report tests
and benchmark. Nothing is downloaded: the Debian binaries are given explicitly, so Selenium Manager stays idle."""
import os
import shutil
import tempfile

CHROMIUM = os.environ.get("KUBENODE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KUBENODE_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def missing():
    """Why the browser cannot run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium Python package is not installed"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return "%s is missing (apt-get install chromium chromium-driver)" % path
    return None


class Browser(object):
    def __init__(self, width=1400, height=1800, javascript=True):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="kubenode-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS + ["--user-data-dir=%s" % self.profile, "--window-size=%d,%d" % (width, height)]:
            options.add_argument(flag)
        if not javascript:
            options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(120)

    def open(self, path):
        self.driver.get("file://" + os.path.abspath(path))
        return self.driver

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
