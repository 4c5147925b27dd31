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

    /// The condition `type` of a status value, if set.
    public static func get(_ status: JSONValue, type: String) -> Condition? {
        guard let value = status["conditions"].arrayValue?.first(where: { $0["type"].stringValue == type })
        else {
            return nil
        }
        return try? value.decode(Condition.self)
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
        Timestamps.rfc3339(date)
    }
}

/// Kubernetes time formats.
enum Timestamps {
    /// metav1.Time: `2006-01-02T15:04:05Z`.
    static func rfc3339(_ date: Date) -> String {
        format(date, fraction: false)
    }

    /// metav1.MicroTime: `2006-01-02T15:04:05.000000Z`.
    static func micro(_ date: Date) -> String {
        format(date, fraction: true)
    }

    private static func format(_ date: Date, fraction: Bool) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&whole, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        var text = "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
        text += "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
        if fraction {
            let micros = Int32(((seconds - seconds.rounded(.down)) * 1_000_000).rounded(.down))
            text += ".\(pad(min(micros, 999_999), 6))"
        }
        return text + "Z"
    }

    /// Parses RFC 3339 (with or without fraction, `Z` or offset); nil if malformed.
    static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
