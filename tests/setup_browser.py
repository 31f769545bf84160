"""Install Debian's chromium and chromedriver for the browser test, when they are missing.

Run by `nox -s tests` before pytest. Needs root (or sudo) and apt; otherwise it
says what to install and exits non-zero, so the suite never silently skips the
browser test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

PACKAGES = ["chromium", "chromium-driver"]


def main() -> int:
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return 0
    apt = shutil.which("apt-get")
    prefix = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if apt is None or prefix is None:
        print(f"the browser test needs Debian's {' and '.join(PACKAGES)} (/usr/bin/chromium, /usr/bin/chromedriver): "
              f"install them with `apt-get install {' '.join(PACKAGES)}`", file=sys.stderr)
        return 1
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print(f"installing {' '.join(PACKAGES)} for the browser test (apt-get)", flush=True)
    subprocess.run(prefix + [apt, "update", "-q"], check=True, env=env)
    subprocess.run(prefix + [apt, "install", "-y", "-q", *PACKAGES], check=True, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
