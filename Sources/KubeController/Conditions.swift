import Foundation
import KubeJSON

/// metav1.Condition helpers (apimachinery's `meta.SetStatusCondition`), on a status value.
public enum Conditions {
    /// Sets condition `type` in `status.conditions`. `lastTransitionTime` moves only when the
    /// condition's `status` changes; `reason`, `message` and `observedGeneration` are updated in
    /// place. Returns whether anything changed (an unchanged condition is a no-op, so a status
    /// built from unchanged facts stays byte-equal and is not written again).
    @discardableResult
    public static func set(
        _ status: inout JSONValue, type: String, status conditionStatus: String, reason: String,
        message: String,
        observedGeneration: Int64? = nil, now: Date = Date()
    ) -> Bool {
        var conditions = status["conditions"].arrayValue ?? []
        var condition: JSONValue = [
            "type": .string(type), "status": .string(conditionStatus), "reason": .string(reason),
            "message": .string(message), "lastTransitionTime": .string(timestamp(now)),
        ]
        if let observedGeneration { condition["observedGeneration"] = .int(observedGeneration) }
        if let index = conditions.firstIndex(where: { $0["type"].stringValue == type }) {
            let existing = conditions[index]
            if existing["status"].stringValue == conditionStatus, !existing["lastTransitionTime"].isNull {
                condition["lastTransitionTime"] = existing["lastTransitionTime"]
            }
            if existing == condition { return false }
            conditions[index] = condition
        } else {
            conditions.append(condition)
        }
        status["conditions"] = .array(conditions)
        return true
    }

    /// Typed variant on `[Condition]`; `condition.lastTransitionTime` is used only when the status changes.
    @discardableResult
    public static func set(_ conditions: inout [Condition], _ condition: Condition) -> Bool {
        var new = condition
        if let index = conditions.firstIndex(where: { $0.type == condition.type }) {
            if conditions[index].status == condition.status {
                new.lastTransitionTime = conditions[index].lastTransitionTime
            }
            if conditions[index] == new { return false }
            conditions[index] = new
        } else {
            conditions.append(new)
        }
        return true
    }

    /// The condition `type` among `conditions`, if set.
    public static func get(_ conditions: [Condition]?, type: String) -> Condition? {
        conditions?.first { $0.type == type }
    }

    /// The condition `type` of a status value, if set.
    public static func get(_ status: JSONValue, type: String) -> Condition? {
        guard let value = status["conditions"].arrayValue?.first(where: { $0["type"].stringValue == type })
        else {
            return nil
        }
        return try? value.decode(Condition.self)  // a malformed condition reads as unset; the next write replaces it
    }

    /// Removes condition `type`; returns whether it was there.
    @discardableResult
    public static func remove(_ status: inout JSONValue, type: String) -> Bool {
        guard var conditions = status["conditions"].arrayValue,
            let index = conditions.firstIndex(where: { $0["type"].stringValue == type })
        else { return false }
        conditions.remove(at: index)
        status["conditions"] = .array(conditions)
        return true
    }

    /// RFC 3339 with second precision (metav1.Time), UTC.
    public static func timestamp(_ date: Date) -> String {
        RFC3339.format(date)
    }
}

