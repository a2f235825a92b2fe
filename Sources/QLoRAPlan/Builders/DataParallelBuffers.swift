/// CPU data parallelism (`mpirun -np N qlora train`): what each of the N ranks holds beyond one
/// process's plan. Every rank is a whole trainer: the base (its own repacked NF4 copy), the whole
/// adapter, its gradients and optimizer state (replicated, stepped identically on every rank) and
/// the activations of its own micro-batch. The gradient sum adds two flat buffers: the rank's
/// gradients packed (1×) and every rank's gathered for the rank-order sum (N×).
enum DataParallelBuffers {
    static func add(to table: inout BufferTable, _ request: PlanRequest) {
        guard request.ranks > 1 else { return }
        let total = table.buffers.filter { $0.name == "grad.trainable" }.reduce(0) { $0 + $1.shape.reduce(1, *) }
        table.add(PlannedBuffer("dp.grad_send", .gradients, shape: [total], axes: ["N_train"], .f32,
                                note: "data parallel: this rank's gradients packed for the allgather"))
        table.add(PlannedBuffer("dp.grad_gathered", .gradients, shape: [request.ranks, total], axes: ["ranks", "N_train"], .f32,
                                note: "data parallel: every rank's gradients, summed in rank order"))
    }

    static func note(_ request: PlanRequest) -> String {
        "per rank of \(request.ranks) (mpirun -np \(request.ranks)): each rank holds the whole table above "
            + "(its own base copy, the adapter, gradients and optimizer state replicated, activations of its "
            + "--batch rows); \(request.ranks) ranks on one machine need \(request.ranks)× it"
    }
}
