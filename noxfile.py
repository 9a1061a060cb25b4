# The collection's nox sessions, configured in antsibull-nox.toml (antsibull-nox's documented noxfile).
# scripts/test runs them (its stages lint, docs, release); run one by hand with the dev venv on PATH:
#   nox -f noxfile.py --envdir .cache/nox -R -e ansible-lint
import sys

import nox

try:
    import antsibull_nox
except ImportError:
    print("You need to install antsibull-nox in the same Python environment as nox (requirements-dev.txt).")
    sys.exit(1)


antsibull_nox.load_antsibull_nox_toml()


if __name__ == "__main__":
    nox.main()
