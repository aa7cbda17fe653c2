#!/usr/bin/env bash
# A GPU machine checked before a paper-scale run, in four stages, each under its own time limit:
#   1. the CUDA tests (tests/test_cuda.py) on DATA/ccpd-mini;
#   2. training throughput at the paper's batch of 128 (bench/train_speed.py --device cuda);
#   3. the paper's recipe (lpsr train --profile paper: Adam 1e-4, cosine, batch 128) shortened to
#      ITERATIONS, for MSE and for the PECL headline, each scored once on the test split; by
#      default as many iterations (a multiple of 500) as the bench's PECL rate fits into 60% of
#      TRAIN_LIMIT, the rest left for set-up and validation.
# The PECL encoder is pretrained on the CPU (lpsr encoder pretrain) while stages 1-3 use the GPU.
#
#   bench/gpu_check.sh DATA OUT [CCPD_ROOT]      (DATA holds ccpd-mini/; CCPD_ROOT defaults to it)
#
# OUT receives each stage's log, the bench's JSON, and per run its config, env.json, log.jsonl,
# done.json and test evaluation (no checkpoints). A stage that runs out of time is stopped with
# SIGTERM (a training run checkpoints and says so) and the next one starts.
set -u
data=$(realpath "$1")
out=$(realpath -m "$2")
root=$(realpath "${3:-$data/ccpd-mini}")
python=${PYTHON:-python3}
runs=${RUNS:-$(mktemp -d)}
mkdir -p "$out"
export PYTHONUNBUFFERED=1

stage() {  # stage NAME SECONDS COMMAND...: run under a time limit, log to OUT/NAME.log
	local name=$1 limit=$2
	shift 2
	local start=$SECONDS
	timeout -s TERM -k 30 "$limit" "$@" >"$out/$name.log" 2>&1
	echo "$name: exit $? after $((SECONDS - start)) s (limit $limit s)" | tee -a "$out/stages.txt"
}

{
	nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
	"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cpu', torch.backends.cpu.get_cpu_capability())"
	grep -m1 'model name' /proc/cpuinfo
	grep -o -w 'avx512_bf16\|amx_bf16\|avx512f' /proc/cpuinfo | sort | uniq -c
	nproc
} >"$out/machine.txt" 2>&1

"$python" -m lpsr.cli encoder pretrain --data "$root" >"$out/encoder.log" 2>&1 &
encoder=$!

stage cuda-tests "${TESTS_LIMIT:-180}" env LPSR_DATA="$data" "$python" -m pytest tests/test_cuda.py -q -p no:cacheprovider
stage bench "${BENCH_LIMIT:-150}" "$python" bench/train_speed.py --device "${DEVICE:-cuda}" --batch 128 --profile paper \
	--steps 10 --data "$root" --json "$out/bench.json"
limit=${TRAIN_LIMIT:-75}
iterations=${ITERATIONS:-$("$python" -c "
import json, sys
rows = json.load(open(sys.argv[1]))['rows']
rate = next(r['samples_per_s'] for r in rows if r['loss'] == 'PECL' and r['engine_default'])
print(max(500, int(rate * 0.6 * $limit / 128 / 500) * 500))" "$out/bench.json" 2>/dev/null || echo 1000)}
echo "paper recipe: $iterations iterations" | tee -a "$out/stages.txt"
for method in ours-mse ours-pecl; do
	if [ "$method" = ours-pecl ]; then  # the encoder, given up to ENCODER_WAIT more seconds
		for _ in $(seq "${ENCODER_WAIT:-300}"); do kill -0 "$encoder" 2>/dev/null && sleep 1; done
		if kill -0 "$encoder" 2>/dev/null || ! wait "$encoder"; then
			echo "ours-pecl: skipped, the encoder's pretraining did not finish in time (encoder.log)" | tee -a "$out/stages.txt"
			kill "$encoder" 2>/dev/null
			continue
		fi
	fi
	stage "train-$method" "$limit" "$python" -m lpsr.cli train --profile paper --method "$method" \
		--data "$root" --iterations "$iterations" --set train.val_every=500 --runs "$runs" --quiet
	run=$(sed -n 's/^\(\/.*\/lpsr-[a-z]*-[0-9a-f]*\)$/\1/p' "$out/train-$method.log" | tail -1)
	run=${run:-$(ls -td "$runs"/lpsr-"${method#ours-}"-* 2>/dev/null | head -1)}
	[ -n "$run" ] || continue
	stage "eval-$method" 45 "$python" -m lpsr.cli eval --data "$root" --split test --model "$run" --out "$run/eval-test"
	mkdir -p "$out/$method"
	cp -r "$run"/*.json "$run"/*.yaml "$run"/log.jsonl "$run"/eval-test "$out/$method/" 2>/dev/null
done
wait
