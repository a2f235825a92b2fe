# Reads a run's TensorBoard event files with TensorBoard's own EventAccumulator (run by hand in a venv
# with PyPI's tensorboard, not by CI): python tools/tensorboard/read_events.py RUN/runs
import sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0})
ea.Reload()
tags = ea.Tags()
print("scalars:", sorted(tags["scalars"]))
print("tensors:", sorted(tags["tensors"]))
for t in sorted(tags["scalars"]):
    ev = ea.Scalars(t)
    print(f"{t}: {len(ev)} points, steps {ev[0].step}..{ev[-1].step}, first {ev[0].value:.6g}, last {ev[-1].value:.6g}")
for t in tags["tensors"]:
    print(t, ea.Tensors(t)[0].tensor_proto.string_val[0].decode()[:200])
