set -u
cd "$(dirname "$0")/.."
q=.build/release/qlora
args="--model out/smollm2-nf4 --data datasets/train.jsonl --steps 6 --checkpoint-every 1 --seq 256 --batch 4 --rank 16 --alpha 32 --lr 3e-4 --seed 7"
rm -rf out/kr-whole out/kr-killed
$q train $args -o out/kr-whole > /dev/null 2>&1
$q train $args -o out/kr-killed > /dev/null 2>&1 &
pid=$!
while [ ! -d out/kr-killed/checkpoints/checkpoint-3 ]; do sleep 0.2; done
kill -9 $pid; wait $pid 2>/dev/null
echo "killed after: $(ls out/kr-killed/checkpoints)"
$q train $args --resume out/kr-killed > /dev/null 2>&1; echo "resume exit $?"
cmp out/kr-whole/adapter_model.safetensors out/kr-killed/adapter_model.safetensors && echo "IDENTICAL adapter_model.safetensors"
sha256sum out/kr-whole/adapter_model.safetensors out/kr-killed/adapter_model.safetensors
