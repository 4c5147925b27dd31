import KubeJSON

/// How `resourceVersion` is interpreted by a list.
public enum ResourceVersionMatch: String, Sendable, Hashable {
    case exact = "Exact"
    case notOlderThan = "NotOlderThan"
}

/// Query parameters of a list (metav1.ListOptions).
public struct ListOptions: Sendable, Hashable {
    public var labelSelector: String?
    public var fieldSelector: String?
    /// Page size; the server returns `continueToken` when there is more.
    public var limit: Int?
    public var continueToken: String?
    public var resourceVersion: String?
    public var resourceVersionMatch: ResourceVersionMatch?
    public var timeoutSeconds: Int?

    public init(
        labelSelector: String? = nil, fieldSelector: String? = nil, limit: Int? = nil,
        continueToken: String? = nil,
        resourceVersion: String? = nil, resourceVersionMatch: ResourceVersionMatch? = nil,
        timeoutSeconds: Int? = nil
    ) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.limit = limit
        self.continueToken = continueToken
        self.resourceVersion = resourceVersion
        self.resourceVersionMatch = resourceVersionMatch
        self.timeoutSeconds = timeoutSeconds
    }

    var query: [(name: String, value: String)] {
        var items: [(name: String, value: String)] = []
        if let labelSelector, !labelSelector.isEmpty { items.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { items.append(("fieldSelector", fieldSelector)) }
        if let limit { items.append(("limit", String(limit))) }
        if let continueToken, !continueToken.isEmpty { items.append(("continue", continueToken)) }
        if let resourceVersion { items.append(("resourceVersion", resourceVersion)) }
        if let resourceVersionMatch { items.append(("resourceVersionMatch", resourceVersionMatch.rawValue)) }
        if let timeoutSeconds { items.append(("timeoutSeconds", String(timeoutSeconds))) }
        return items
    }
}

/// Query parameters of a watch.
public struct WatchOptions: Sendable, Hashable {
    public var labelSelector: String?
    public var fieldSelector: String?
    /// Start after this version (from a list or the last event); nil = from "now" (with a
    /// synthetic ADDED per existing object, as the server does for resourceVersion unset).
    public var resourceVersion: String?
    public var allowWatchBookmarks: Bool
    /// The server ends the watch after this long (a clean end of the sequence).
    public var timeoutSeconds: Int?

    public init(
        labelSelector: String? = nil, fieldSelector: String? = nil, resourceVersion: String? = nil,
        allowWatchBookmarks: Bool = true, timeoutSeconds: Int? = nil
    ) {
        self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector
        self.resourceVersion = resourceVersion
        self.allowWatchBookmarks = allowWatchBookmarks
        self.timeoutSeconds = timeoutSeconds
    }

    var query: [(name: String, value: String)] {
        var items: [(name: String, value: String)] = [("watch", "true")]
        if let labelSelector, !labelSelector.isEmpty { items.append(("labelSelector", labelSelector)) }
        if let fieldSelector, !fieldSelector.isEmpty { items.append(("fieldSelector", fieldSelector)) }
        if let resourceVersion { items.append(("resourceVersion", resourceVersion)) }
        if allowWatchBookmarks { items.append(("allowWatchBookmarks", "true")) }
        if let timeoutSeconds { items.append(("timeoutSeconds", String(timeoutSeconds))) }
        return items
    }
}

/// Options of create and update.
public struct WriteOptions: Sendable, Hashable {
    public var fieldManager: String?
    public var dryRun = false
    /// "Ignore", "Warn" or "Strict".
    public var fieldValidation: String?

    public init(fieldManager: String? = nil, dryRun: Bool = false, fieldValidation: String? = nil) {
        self.fieldManager = fieldManager
        self.dryRun = dryRun
        self.fieldValidation = fieldValidation
    }

    var query: [(name: String, value: String)] {
        var items: [(name: String, value: String)] = []
        if let fieldManager { items.append(("fieldManager", fieldManager)) }
        if dryRun { items.append(("dryRun", "All")) }
        if let fieldValidation { items.append(("fieldValidation", fieldValidation)) }
        return items
    }
}

/// The kind of a patch, sent as its Content-Type.
public enum PatchType: String, Sendable, Hashable {
    /// RFC 7386 JSON merge patch.
    case merge = "application/merge-patch+json"
    /// RFC 6902 JSON patch (an array of operations, `test` included).
    case json = "application/json-patch+json"
    /// Kubernetes strategic merge patch (built-in kinds only).
    case strategicMerge = "application/strategic-merge-patch+json"
    /// Server-side apply; needs `PatchOptions.fieldManager`. The body is JSON (valid YAML).
    case apply = "application/apply-patch+yaml"
}

/// Options of a patch.
public struct PatchOptions: Sendable, Hashable {
    public var fieldManager: String?
    /// Server-side apply only: take ownership of conflicting fields.
    public var force: Bool?
    public var dryRun = false

    public init(fieldManager: String? = nil, force: Bool? = nil, dryRun: Bool = false) {
        self.fieldManager = fieldManager
        self.force = force
        self.dryRun = dryRun
    }

    var query: [(name: String, value: String)] {
        var items: [(name: String, value: String)] = []
        if let fieldManager { items.append(("fieldManager", fieldManager)) }
        if let force { items.append(("force", force ? "true" : "false")) }
        if dryRun { items.append(("dryRun", "All")) }
        return items
    }
}

/// What happens to dependents of a deleted object.
public enum PropagationPolicy: String, Sendable, Hashable {
    case orphan = "Orphan"
    case background = "Background"
    case foreground = "Foreground"
}

/// metav1.DeleteOptions, sent as the body of a DELETE.
public struct DeleteOptions: Sendable, Hashable {
    public var propagationPolicy: PropagationPolicy?
    public var gracePeriodSeconds: Int?
    /// Delete only if the object still has this uid.
    public var preconditionUID: String?
    /// Delete only if the object is still at this version (else 409 Conflict).
    public var preconditionResourceVersion: String?
    public var dryRun = false

    public init(
        propagationPolicy: PropagationPolicy? = nil, gracePeriodSeconds: Int? = nil,
        preconditionUID: String? = nil,
        preconditionResourceVersion: String? = nil, dryRun: Bool = false
    ) {
        self.propagationPolicy = propagationPolicy
        self.gracePeriodSeconds = gracePeriodSeconds
        self.preconditionUID = preconditionUID
        self.preconditionResourceVersion = preconditionResourceVersion
        self.dryRun = dryRun
    }

    var body: JSONValue {
        var body: JSONValue = ["apiVersion": "v1", "kind": "DeleteOptions"]
        if let propagationPolicy { body["propagationPolicy"] = .string(propagationPolicy.rawValue) }
        if let gracePeriodSeconds { body["gracePeriodSeconds"] = .int(Int64(gracePeriodSeconds)) }
        if preconditionUID != nil || preconditionResourceVersion != nil {
            var preconditions = JSONValue.emptyObject
            if let preconditionUID { preconditions["uid"] = .string(preconditionUID) }
            if let preconditionResourceVersion {
                preconditions["resourceVersion"] = .string(preconditionResourceVersion)
            }
            body["preconditions"] = preconditions
        }
        if dryRun { body["dryRun"] = ["All"] }
        return body
    }
}

/// One page of a list.
public struct ObjectList: Sendable, Hashable {
    public var items: [JSONValue]
    /// The list's resourceVersion: start a watch here.
    public var resourceVersion: String
    /// Present when more pages follow.
    public var continueToken: String?
    public var remainingItemCount: Int?

    public init(
        items: [JSONValue], resourceVersion: String, continueToken: String? = nil,
        remainingItemCount: Int? = nil
    ) {
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
        self.remainingItemCount = remainingItemCount
    }
}

/// One page of a typed list.
public struct TypedList<Object: KubeResource>: Sendable {
    public var items: [Object]
    public var resourceVersion: String
    public var continueToken: String?
}
