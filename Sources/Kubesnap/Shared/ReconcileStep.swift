import KubeController

/// The outcome of one named step of a reconcile: go on with what the step found, or end the
/// reconcile with a result (the step has already said why, in status or an Event).
enum ReconcileStep<Value> {
    case proceed(Value)
    case stop(ReconcileResult)
}
