# The README's two commands: `make grade` (grade the bundled examples) and `make test`.
# Each creates or reuses the virtual environment in .venv and installs what it needs.
# The sandbox runs student code as users of their own, who must be able to read the Python
# that runs it: the system's Python 3.11 comes first (an interpreter under /root would not do).
PYTHON ?= $(shell for p in /usr/bin/python3.11 /usr/local/bin/python3.11 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: grade test test-slow bench lint sandbox messages

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# bubblewrap, the sandbox, and libseccomp, its system-call filter: installed with apt where
# make runs as root.
sandbox:
	@{ command -v bwrap && ldconfig -p | grep -q libseccomp.so.2; } >/dev/null 2>&1 \
		|| { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && apt-get update -qq \
		&& apt-get install -y -qq bubblewrap libseccomp2 >/dev/null; } \
		|| echo "the sandbox is missing: install it (sudo apt-get install bubblewrap libseccomp2)"

grade: $(STAMP) sandbox
	$(BIN)/grader run examples/submissions exercises

test: $(STAMP) sandbox
	$(BIN)/pytest

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The catalogs of what students read (docs/contributing.md#messages-in-another-language): the
# marked messages extracted (babel.cfg), merged into each language's grader.po, compiled to
# grader.mo. Both are committed; tests/test_i18n.py checks they agree with the code.
POT := $(VENV)/grader.pot
messages: $(STAMP)
	$(BIN)/pybabel --quiet extract -F babel.cfg --sort-output -w 100 -o $(POT) .
	$(BIN)/pybabel --quiet update -i $(POT) -d grader/locale -D grader -w 100 --no-fuzzy-matching --ignore-obsolete
	$(BIN)/pybabel compile -d grader/locale -D grader --statistics

bench: $(STAMP)
	$(BIN)/python bench/gate_recipe.py
