import Foundation
import KubeController
import KubeJSON

extension Array where Element == Condition {
    /// Sets a condition (lastTransitionTime moves only when its status changes).
    mutating func set(_ type: String, _ status: Bool?, reason: String, message: String, generation: Int64?) {
        let text = status.map { $0 ? "True" : "False" } ?? "Unknown"
        Conditions.set(
            &self,
            Condition(
                type: type, status: text, observedGeneration: generation, lastTransitionTime: Conditions.timestamp(Date()),
                reason: reason, message: message))
    }
}

extension Optional where Wrapped == [Condition] {
    mutating func set(_ type: String, _ status: Bool?, reason: String, message: String, generation: Int64?) {
        var conditions = self ?? []
        conditions.set(type, status, reason: reason, message: message, generation: generation)
        self = conditions
    }
}
