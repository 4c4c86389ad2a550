# The commands the README shows. Each one sets up .venv first (bin/bootstrap).
PY := .venv/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint format venv migrate bench clean

venv:
	@bin/bootstrap

run: venv
	@$(PY) manage.py migrate --noinput
	@$(PY) manage.py migrate --noinput --database sandbox
	@$(PY) manage.py demo_setup
	@.venv/bin/honcho -f Procfile start

test: venv lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/djade --check $$(find templates -name '*.html')

format: venv
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
	.venv/bin/djade $$(find templates -name '*.html')

migrate: venv
	$(PY) manage.py migrate

bench: venv
	$(PY) bench/run.py

clean:
	rm -rf .venv var
