import KubeClient
import KubeJSON

/// The runtime's test kind: a namespaced custom kind (see `Cluster.installWidgetCRD`) with a
/// free-form spec and status, so tests can shape objects as JSON.
struct Widget: HasStatus, Hashable {
    static let apiResource = Cluster.widgets

    var apiVersion: String? = Cluster.widgets.apiVersion
    var kind: String? = Cluster.widgets.kind
    var metadata: ObjectMeta
    var spec: JSONValue?
    var status: FreeStatus?

    init(metadata: ObjectMeta, spec: JSONValue? = nil, status: FreeStatus? = nil) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    /// The widget a JSON object describes (a test's fixture: it must decode).
    init(_ json: JSONValue) {
        do {
            self = try json.decode(Widget.self)
        } catch {
            preconditionFailure("not a widget: \(error)\n\(json)")
        }
    }

    /// The object as JSON.
    var json: JSONValue { (try? JSONValue(encoding: self)) ?? .null }
}

/// A status of any shape (a JSON object), read and written by key.
struct FreeStatus: ObjectStatus, Hashable {
    var value: JSONValue = .object([:])

    init() {}

    init(_ value: JSONValue) { self.value = value }

    init(from decoder: any Decoder) throws { value = try JSONValue(from: decoder) }

    func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }

    subscript(key: String) -> JSONValue {
        get { value[key] }
        set { value[key] = newValue }
    }
}
