import KubeJSON

/// A change the informer saw, after its transform.
public enum InformerEvent: Sendable {
    case added(JSONValue)
    case updated(old: JSONValue, new: JSONValue)
    case deleted(JSONValue)
    /// A periodic resync of a cached object (no API call); passes every predicate.
    case resync(JSONValue)

    /// The object after the event (the last known state for a deletion).
    public var object: JSONValue {
        switch self {
        case .added(let o), .deleted(let o), .resync(let o): o
        case .updated(_, let new): new
        }
    }
}

/// Decides whether an event is worth a reconcile. Combine with `&&`/`||`.
public struct EventFilter: Sendable {
    public let accepts: @Sendable (InformerEvent) -> Bool

    public init(_ accepts: @escaping @Sendable (InformerEvent) -> Bool) {
        self.accepts = accepts
    }

    /// Every event.
    public static let all = EventFilter { _ in true }

    /// Updates that changed something besides `metadata.resourceVersion` (and managedFields).
    public static let contentChanged = EventFilter { event in
        guard case .updated(let old, let new) = event else { return true }
        return stripVolatile(old) != stripVolatile(new)
    }

    /// Updates that changed `metadata.generation` (the spec), labels, annotations, finalizers or
    /// the deletion timestamp: status-only and resourceVersion-only updates are skipped. The
    /// default for a controller's primary kind, whose status the controller writes itself.
    public static let specOrMetadataChanged = EventFilter { event in
        guard case .updated(let old, let new) = event else { return true }
        let o = old["metadata"]
        let n = new["metadata"]
        for field in ["generation", "labels", "annotations", "finalizers", "deletionTimestamp"]
        where o[field] != n[field] {
            return true
        }
        // Kinds without generation (no status subresource): compare everything but status.
        if n["generation"].isNull {
            var a = stripVolatile(old)
            var b = stripVolatile(new)
            a.removeValue(forKey: "status")
            b.removeValue(forKey: "status")
            return a != b
        }
        return false
    }

    public static func && (lhs: EventFilter, rhs: EventFilter) -> EventFilter {
        EventFilter { lhs.accepts($0) && rhs.accepts($0) }
    }

    public static func || (lhs: EventFilter, rhs: EventFilter) -> EventFilter {
        EventFilter { lhs.accepts($0) || rhs.accepts($0) }
    }

    private static func stripVolatile(_ object: JSONValue) -> JSONValue {
        var copy = object
        var metadata = copy["metadata"]
        metadata.removeValue(forKey: "resourceVersion")
        metadata.removeValue(forKey: "managedFields")
        copy["metadata"] = metadata
        return copy
    }
}
