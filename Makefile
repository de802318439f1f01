# Two commands (README Quick start):  make serve   and   make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The dependencies are declared once in pyproject.toml and resolved by `make lock` (uv, with the
# overrides mediapipe needs in [tool.uv]) into LOCK (what the server runs: the Dockerfile installs it)
# and TEST_LOCK (the same pins plus the `test` extra). Both are installed with --no-deps: exactly the
# locked versions, never a resolver's second opinion (pip would refuse mediapipe's numpy<2 pin).
LOCK := requirements.lock
TEST_LOCK := requirements-test.lock
UV_VERSION := 0.13.9
#: `make lock UPGRADE=--upgrade` moves every pin to the newest release; plain `make lock` keeps the pins it can
UPGRADE ?=

.PHONY: install install-test serve check test browser-deps bench lock

$(BIN)/vigil: pyproject.toml $(LOCK) $(TEST_LOCK)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-deps -r $(TEST_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(BIN)/vigil

install: $(BIN)/vigil

# After changing pyproject.toml's dependencies (or to take newer releases): re-resolve both locks and
# commit them; the next `make` reinstalls from them.
lock:
	test -x $(BIN)/uv || { $(PY) -m venv $(VENV) && $(BIN)/pip install --quiet uv==$(UV_VERSION); }
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 $(UPGRADE) --quiet -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra test -c $(LOCK) --python-version 3.11 $(UPGRADE) --quiet -o $(TEST_LOCK)

serve: install
	$(BIN)/vigil serve

# Debian packages the tests use: chromium (browser tests; test tools never download browsers),
# coturn (TURN relay tests), poppler-utils (PDF report tests), and for the interop tests (tests/interop/)
# firefox-esr and GStreamer's webrtcbin with VP8/H.264/Opus and its Python bindings (python3-gi, used by
# /usr/bin/python3). Installed when missing and root.
GST_DEBS = gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
	gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-nice gir1.2-gst-plugins-bad-1.0 python3-gi
browser-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium chromium-driver"; \
	command -v firefox-esr >/dev/null 2>&1 || missing="$$missing firefox-esr"; \
	for deb in $(GST_DEBS); do dpkg -s $$deb >/dev/null 2>&1 || missing="$$missing $$deb"; done; \
	command -v turnserver >/dev/null 2>&1 || missing="$$missing coturn"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run as root, or apt-get install them); their tests will skip"; fi; \
	fi

# Lint and types (config in pyproject.toml): ruff on all Python, mypy on server/ and pipeline/.
check: install
	$(BIN)/ruff check server pipeline bench tests
	$(BIN)/mypy

test: install browser-deps check
	$(BIN)/python -m pytest -q -ra

# Load-test matrix, capacity, overload, bandwidth and profile; writes bench/results/ (bench/README.md).
bench: install
	$(BIN)/pip install --quiet py-spy
	PYTHONPATH=. $(BIN)/python -m bench.run_all
