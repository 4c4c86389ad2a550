# The commands the README shows. Every target sets up .venv first (bin/bootstrap).
PY := .venv/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint format venv migrate bench clean

venv:
	@bin/bootstrap

## Start everything: web server, poller and (without AUDIOSHAKE_API_KEY) the sandbox.
run: venv
	@bin/run

## Lint, then the whole test suite (browser tests skip without Chromium unless REQUIRE_BROWSER=1).
test: venv lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/djade --check $$(find templates -name '*.html')
	DJANGO_SETTINGS_MODULE=shakeweb.test_settings $(PY) manage.py makemigrations --check --dry-run -v0

format: venv
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
	.venv/bin/djade $$(find templates -name '*.html')

migrate: venv
	$(PY) manage.py migrate

bench: venv
	@for b in bench/[a-z]*.py; do [ "$$b" = bench/common.py ] && continue; echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf .venv var staticfiles test-results
