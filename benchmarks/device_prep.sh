#!/bin/sh
# Prepare .device-data/ (git-ignored) for one `device` run of benchmarks/device_check.py:
# the shared CIFAR-10 tarball, the wheels the device image lacks (moocore and what it
# imports: cffi, platformdirs, pycparser; CPython 3.12, x86-64) and the git commit to record.
# Then run the command in benchmarks/device_check.py's docstring with carry [".device-data"].
set -eu
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
mkdir -p .device-data/wheels
cp -f ../shared/data/cifar10/cifar10-jpeg.tar.gz .device-data/
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .device-data/wheels \
    moocore==0.3.2 cffi==2.1.1 platformdirs==4.14.9 pycparser==3.12
git rev-parse HEAD > .device-data/git-commit.txt
if [ -n "$(git status --porcelain --untracked-files=no -- src benchmarks)" ]; then
    echo "note: src/ or benchmarks/ has uncommitted changes; the commit recorded is HEAD"
fi
du -sh .device-data
