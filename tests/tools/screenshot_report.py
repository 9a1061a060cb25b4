"""The screenshot of the demo fleet's HTML report in docs (docs/fleet-report-demo.png).

Assesses the demo fleet (demo/inventory.yml) with playbooks/assess.yml into a temporary directory, opens fleet.html
in headless Chromium and saves the whole page as a PNG.

  python3 tests/tools/screenshot_report.py [--out docs/fleet-report-demo.png] [--width 1400]
Needs the chromium and chromium-driver Debian packages and the selenium package (the development set).
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration_html"))
import browser  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "fleet-report-demo.png"))
    parser.add_argument("--width", type=int, default=1400)
    args = parser.parse_args()
    why = browser.missing()
    if why:
        raise SystemExit(why)
    with tempfile.TemporaryDirectory() as directory:
        report_dir = os.path.join(directory, "ipvs-reuse-report")
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
        subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                        os.path.join(REPO, "demo", "inventory.yml"), os.path.join(REPO, "playbooks", "assess.yml"),
                        "-e", "assess_report_dir=%s" % report_dir], cwd=REPO, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        with browser.Browser(width=args.width, height=1000) as chromium:
            driver = chromium.open(os.path.join(report_dir, "fleet.html"))
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(args.width, height + 40)
            driver.save_screenshot(args.out)
    print("wrote %s (%d x %d)" % (args.out, args.width, height))


if __name__ == "__main__":
    main()
