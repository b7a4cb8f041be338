# curate: two set-up commands on a fresh machine, `make corpus` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_DOCS ?= 6000
# the loader's torch; 2.13.0 resolves to a CPU build on the project's machines (an unpinned
# torch would pull a multi-GB CUDA build). Override, e.g. TORCH='torch==2.13.0+cu128', on GPUs.
TORCH  ?= torch==2.13.0

URL_LISTS := filters/lists/ut1_fineweb.hosts.npy

.PHONY: append-demo install url-lists corpus test test-clone wheel lint bench bench-scale models clean drift-example reliability

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check '$(TORCH)'
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) $(URL_LISTS)

# the url filter's shipped list: the UT1 blacklist from DataTrove's wheel on PyPI (hash-pinned,
# downloaded, never installed), compiled to hashed domains (filters/url_lists.py)
$(URL_LISTS): filters/url-lists.txt filters/url_lists.py $(STAMP)
	$(BIN)/pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
	  --dest build/url-lists -r filters/url-lists.txt
	$(BIN)/python -m filters.url_lists build/url-lists/datatrove-0.10.1-py3-none-any.whl

url-lists: $(URL_LISTS)  ## the url filter's shipped block list (UT1, CC BY-SA 4.0)

corpus: $(STAMP) $(URL_LISTS)  ## generate the demo corpora (text, image-text, interleaved) and build them
	$(BIN)/curate demo-data data/demo --docs $(DEMO_DOCS)
	$(BIN)/curate build configs/demo.yaml --overwrite
	$(BIN)/curate verify out/demo
	$(BIN)/curate drift out/demo --out out/demo-drift
	$(BIN)/curate build configs/demo-pairs.yaml --overwrite
	$(BIN)/curate verify out/demo-pairs
	$(BIN)/curate build configs/demo-interleaved.yaml --overwrite
	$(BIN)/curate verify out/demo-interleaved
	$(BIN)/curate build configs/demo-web.yaml --overwrite
	$(BIN)/curate verify out/demo-web
	$(BIN)/curate drift out/demo-web --out out/demo-web-drift

YEARS_FIRST := 2016 2017 2018 2019
YEARS_LATER := 2020 2021 2022 2023
append-demo: $(STAMP)  ## the demo built from its first years, appended year by year, compared with the full build
	$(BIN)/curate demo-data data/demo-years --docs $(DEMO_DOCS) --by-year --web 0 --pairs 0 --interleaved 0
	$(BIN)/curate build configs/demo-years.yaml --overwrite $(foreach y,$(YEARS_FIRST),--input data/demo-years/by_year/$(y).jsonl)
	for y in $(YEARS_LATER); do \
	  $(BIN)/curate build configs/demo-years.yaml --append --input data/demo-years/by_year/$$y.jsonl || exit 1; \
	done
	$(BIN)/curate verify out/demo-years
	$(BIN)/curate build configs/demo-years.yaml --overwrite --output out/demo-years-full
	$(BIN)/curate compare out/demo-years out/demo-years-full
	$(BIN)/curate drift out/demo-years --out out/demo-years-drift

reliability: $(STAMP)  ## fuzz campaigns, random-mix builds and SIGKILL crash points -> RELIABILITY.md
	$(BIN)/pip install --quiet --disable-pip-version-check atheris==3.0.0
	$(BIN)/python bench/reliability.py --out RELIABILITY.md

drift-example: $(STAMP)  ## the drift report on real dated text (git commit messages, 2005-2026)
	$(BIN)/curate build configs/temporal-commits.yaml --overwrite
	$(BIN)/curate drift out/commits --out out/commits-drift

test: $(STAMP) $(URL_LISTS)  ## lint and the whole test suite
	$(BIN)/ruff check .
	$(BIN)/pytest -q

# the tests that read real data, with ../shared hidden, as on a user's clone: they must pass on
# the samples in tests/fixtures (CI runs this after `make test`)
test-clone: $(STAMP) $(URL_LISTS)
	CURATE_EVALDATA=/nonexistent $(BIN)/pytest -q $$(grep -l 'evaldata(' tests/test_*.py)

wheel: $(STAMP) $(URL_LISTS)  ## dist/curate-<version>-py3-none-any.whl, models included (cluster workers, docker/Dockerfile)
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation -w dist .

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

BENCH_ENV := bench/.venv/.installed
BENCH_LOADER_ENV := bench/.venv-loader/.installed
BENCH_EMBED_ENV := bench/.venv-embed/.installed

# the anchors we compare against live in their own environments, never in curate's
$(BENCH_ENV): bench/requirements.txt
	$(PYTHON) -m venv bench/.venv
	bench/.venv/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $(BENCH_ENV)

$(BENCH_LOADER_ENV): bench/requirements-loader.txt
	$(PYTHON) -m venv bench/.venv-loader
	bench/.venv-loader/bin/pip install --quiet --disable-pip-version-check -r bench/requirements-loader.txt
	touch $(BENCH_LOADER_ENV)

$(BENCH_EMBED_ENV): bench/requirements-embed.txt
	$(PYTHON) -m venv bench/.venv-embed
	bench/.venv-embed/bin/pip install --quiet --disable-pip-version-check -r bench/requirements-embed.txt
	touch $(BENCH_EMBED_ENV)

bench: $(STAMP) $(BENCH_ENV) $(BENCH_LOADER_ENV) $(BENCH_EMBED_ENV) corpus  ## speed, memory and quality figures, written to BENCHMARKS.md
	$(BIN)/python bench/build_bench.py --out BENCHMARKS.md
	$(BIN)/python bench/near_dedup_bench.py --out BENCHMARKS.md
	$(BIN)/python bench/filters_bench.py --out BENCHMARKS.md
	$(BIN)/python bench/filters_worst_case.py --out BENCHMARKS.md
	$(BIN)/python bench/loader_bench.py --out BENCHMARKS.md
	$(BIN)/python bench/loader_fallback.py --corpus out/demo --out BENCHMARKS.md
	$(BIN)/python bench/image_bench.py --out BENCHMARKS.md
	$(BIN)/python bench/decontam_bench.py --out BENCHMARKS.md
	$(BIN)/python bench/extraction_bench.py --out BENCHMARKS.md
	$(BIN)/python bench/warc_bench.py --out BENCHMARKS.md
	$(BIN)/python bench/url_filter_bench.py --out BENCHMARKS.md
	$(BIN)/python bench/append_bench.py --out BENCHMARKS.md
	$(BIN)/python bench/toxicity_lodo.py --out BENCHMARKS.md
	$(BIN)/python bench/toxicity_documents.py --out BENCHMARKS.md
	PYTHONPATH=.:bench bench/.venv-embed/bin/python bench/toxicity_embeddings.py --out BENCHMARKS.md

bench-scale: $(STAMP)  ## peak memory at 1x, 16x and 64x the benchmark corpus (about 25 min, 45 GB of disk)
	$(BIN)/python bench/scale_bench.py --out BENCHMARKS.md

# The permissively licensed labeled sets of ../shared/evaldata/toxicity (SOURCES.md); the others
# (Gab Hate Corpus, OLID, DynaHate, ETHOS) and the functional suites are for evaluation only.
TOXICITY_TRAIN := davidson.jsonl jigsaw_wikitalk_subset.jsonl.gz \
  wikitalk_toxicity_testsample.jsonl.gz hatexplain.jsonl.gz edos_sexism.jsonl.gz \
  sbic_devtest.jsonl.gz hatemoji_build.jsonl.gz toxigen_prompts.jsonl.gz paradetox.jsonl.gz

models: $(STAMP)  ## retrain the shipped toxicity model (filters/models/toxicity.ftz) from ../shared/evaldata
	$(BIN)/curate train-classifier --out filters/models/toxicity \
	  $(foreach f,$(TOXICITY_TRAIN),--labeled ../shared/evaldata/toxicity/$(f)) \
	  --negative ../shared/evaldata/prose/prose.jsonl --exclude-id-prefix wikitext2 \
	  --chunk-words 30 --lexicon

clean:
	rm -rf $(VENV) out data dist bench/work .pytest_cache .ruff_cache
