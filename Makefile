# The two commands a user needs: `make run` and `make test`. Both install what is missing.
.PHONY: run test test-it e2e bench setup redis stop lint

run: ## Build (release) and serve on http://127.0.0.1:8093; flags via ARGS="..."
	@scripts/run.sh $(ARGS)

test: ## Unit, integration (real Redis) and Playwright tests
	@scripts/test.sh

test-it: ## Unit and integration tests only (a private Redis and cluster)
	@scripts/test.sh it

e2e: ## The release build, the Playwright stories and the Feast SDK check only
	@scripts/test.sh e2e

bench: ## Benchmarks against Redis's own floor; report in target/bench/
	@scripts/bench.sh

setup: ## Install the tools for `make test` without running it
	@scripts/setup.sh test

redis: ## Start the dev Redis (port 6390) on its own
	@scripts/redis.sh start

stop: ## Stop the dev Redis
	@scripts/redis.sh stop

lint: ## Formatting and clippy over every crate, as CI runs them
	cargo fmt --all --check
	cargo clippy --workspace --all-features --all-targets --locked -- -D warnings
