/// Finds the first tensor that went non-finite in a training step, for the error that stops it.
enum NonFiniteScan {
    /// A parameter whose value is not finite is the cause (a corrupted weight poisons everything
    /// after it), so values are scanned first, in model order. Otherwise the first gradient the
    /// backward pass produced that is not finite: backward runs from the last layer to the first,
    /// B before A, so gradients are scanned in reverse parameter order. nil when all are finite
    /// (the loss alone went non-finite).
    static func firstNonFinite(_ parameters: [Parameter]) -> String? {
        if let p = parameters.first(where: { hasNonFinite($0.value, $0.count) }) {
            return "parameter '\(p.name)'"
        }
        if let p = parameters.reversed().first(where: { hasNonFinite($0.grad, $0.count) }) {
            return "gradient of '\(p.name)'"
        }
        return nil
    }

    static func hasNonFinite(_ values: UnsafeMutablePointer<Float>, _ count: Int) -> Bool {
        for i in 0..<count where !values[i].isFinite { return true }
        return false
    }
}
