import KubeClient
import KubeJSON

/// A change the informer saw, with the objects decoded.
public enum InformerEvent<Object: KubeResource>: Sendable {
    case added(Object)
    case updated(old: Object, new: Object)
    case deleted(Object)
    /// A periodic resync of a cached object (no API call); passes every predicate.
    case resync(Object)

    /// The object after the event (the last known state for a deletion).
    public var object: Object {
        switch self {
        case .added(let o), .deleted(let o), .resync(let o): o
        case .updated(_, let new): new
        }
    }
}

/// Decides whether an event is worth a reconcile. Combine with `&&`/`||`.
public struct EventFilter<Object: KubeResource>: Sendable {
    public let accepts: @Sendable (InformerEvent<Object>) -> Bool

    public init(_ accepts: @escaping @Sendable (InformerEvent<Object>) -> Bool) {
        self.accepts = accepts
    }

    /// Every event.
    public static var all: EventFilter { EventFilter { _ in true } }

    /// Updates that changed something besides `metadata.resourceVersion` (managedFields are not
    /// part of the typed object).
    public static var contentChanged: EventFilter {
        EventFilter { event in
            guard case .updated(let old, let new) = event else { return true }
            return stripVolatile(old) != stripVolatile(new)
        }
    }

    /// Updates that changed `metadata.generation` (the spec), labels, annotations, finalizers or
    /// the deletion timestamp: status-only and resourceVersion-only updates are skipped. The
    /// default for a controller's primary kind, whose status the controller writes itself. For
    /// kinds without a generation (no status subresource) it is `contentChanged`.
    public static var specOrMetadataChanged: EventFilter {
        EventFilter { event in
            guard case .updated(let old, let new) = event else { return true }
            let o = old.metadata
            let n = new.metadata
            if o.generation != n.generation || o.labels != n.labels || o.annotations != n.annotations
                || o.finalizers != n.finalizers || o.deletionTimestamp != n.deletionTimestamp
            {
                return true
            }
            if n.generation == nil { return stripVolatile(old) != stripVolatile(new) }
            return false
        }
    }

    /// Updates that changed what `field` reads (and every other event).
    public static func changed<Value: Equatable & Sendable>(_ field: @escaping @Sendable (Object) -> Value) -> EventFilter {
        EventFilter { event in
            guard case .updated(let old, let new) = event else { return true }
            return field(old) != field(new)
        }
    }

    public static func && (lhs: EventFilter, rhs: EventFilter) -> EventFilter {
        EventFilter { lhs.accepts($0) && rhs.accepts($0) }
    }

    public static func || (lhs: EventFilter, rhs: EventFilter) -> EventFilter {
        EventFilter { lhs.accepts($0) || rhs.accepts($0) }
    }

    private static func stripVolatile(_ object: Object) -> Object {
        var copy = object
        copy.metadata.resourceVersion = nil
        return copy
    }
}
