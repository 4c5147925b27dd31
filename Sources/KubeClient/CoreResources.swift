import Foundation
import KubeJSON

/// core/v1 Secret, the fields a controller reads. `data` holds base64 text, as on the wire;
/// `value(_:)` decodes one key.
public struct Secret: KubeResource, Hashable {
    public static let apiResource = APIResource.secrets

    public var metadata: ObjectMeta
    public var type: String?
    public var data: [String: String]?
    /// Write-only on kube-apiserver (merged into `data`); a server that keeps it is read too.
    public var stringData: [String: String]?

    public init(metadata: ObjectMeta, type: String? = nil, data: [String: String]? = nil) {
        self.metadata = metadata
        self.type = type
        self.data = data
    }

    /// The text of `key`: `data` decoded from base64 as UTF-8, else `stringData`; nil when
    /// absent, empty or unreadable.
    public func text(_ key: String) -> String? {
        if let encoded = data?[key], let bytes = Data(base64Encoded: encoded),
            let value = String(data: bytes, encoding: .utf8), !value.isEmpty
        {
            return value
        }
        if let value = stringData?[key], !value.isEmpty { return value }
        return nil
    }
}

/// core/v1 Namespace, the fields a controller reads.
public struct Namespace: KubeResource, Hashable {
    public static let apiResource = APIResource.namespaces

    public struct Status: Codable, Sendable, Hashable {
        public var phase: String?

        public init(phase: String? = nil) { self.phase = phase }
    }

    public var metadata: ObjectMeta
    public var status: Status?

    public init(metadata: ObjectMeta, status: Status? = nil) {
        self.metadata = metadata
        self.status = status
    }

    /// Being deleted: marked for deletion, or in phase Terminating.
    public var isTerminating: Bool {
        metadata.deletionTimestamp != nil || status?.phase == "Terminating"
    }
}

/// core/v1 ConfigMap.
public struct ConfigMap: KubeResource, Hashable {
    public static let apiResource = APIResource.configMaps

    public var metadata: ObjectMeta
    public var data: [String: String]?

    public init(metadata: ObjectMeta, data: [String: String]? = nil) {
        self.metadata = metadata
        self.data = data
    }
}
