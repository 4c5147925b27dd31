import KubeJSON

/// events.k8s.io/v1 Events are stored as core/v1 Events (as in kube), so kubectl describe and
/// `kubectl get events` see what a client wrote through either API.
enum EventConversion {
    /// Field renames between core/v1 (left) and events.k8s.io/v1 (right).
    static let renames: [(core: String, events: String)] = [
        ("involvedObject", "regarding"), ("message", "note"), ("count", "deprecatedCount"),
        ("firstTimestamp", "deprecatedFirstTimestamp"), ("lastTimestamp", "deprecatedLastTimestamp"),
        ("reportingComponent", "reportingController"),
    ]

    static func toEventsV1(_ core: JSONValue) -> JSONValue {
        guard case .object = core else { return core }
        var out = core
        for (c, e) in renames {
            if let v = out.removeValue(forKey: c), !v.isNull { out[e] = v }
        }
        if let source = out.removeValue(forKey: "source"), case .object = source {
            out["deprecatedSource"] = source
            if out["reportingController"].isNull, let component = source["component"].stringValue {
                out["reportingController"] = .string(component)
            }
        }
        out["apiVersion"] = "events.k8s.io/v1"
        return out
    }

    static func toCore(_ event: JSONValue) -> JSONValue {
        guard case .object = event else { return event }
        var out = event
        for (c, e) in renames {
            if let v = out.removeValue(forKey: e), !v.isNull { out[c] = v }
        }
        if let source = out.removeValue(forKey: "deprecatedSource"), case .object = source {
            out["source"] = source
        } else if out["source"].isNull, let controller = out["reportingComponent"].stringValue {
            out["source"] = ["component": .string(controller)]
        }
        if out["apiVersion"].stringValue == "events.k8s.io/v1" { out["apiVersion"] = "v1" }
        return out
    }
}

extension ResourceInfo {
    var isEventsV1: Bool { group == "events.k8s.io" && resource == "events" }

    /// The stored form of an object written through this resource.
    func toStorage(_ object: JSONValue) -> JSONValue {
        isEventsV1 ? EventConversion.toCore(object) : object
    }

    /// The served form of a stored object.
    func fromStorage(_ object: JSONValue) -> JSONValue {
        isEventsV1 ? EventConversion.toEventsV1(object) : object
    }
}
