import Foundation
import KubeClient
import KubeJSON
import KubeTestSupport
import Logging

@testable import KubeController

/// A test's API server plus a client for it; `withCluster` stops it even when the test fails.
struct Cluster: Sendable {
    let api: TestAPIServer
    let client: KubeClient
    let metrics: MetricsRegistry

    /// A namespaced custom kind with a status subresource (generation moves on spec changes only).
    static let widgets = APIResource(
        group: "test.kubesnap.io", version: "v1", resource: "widgets", kind: "Widget", namespaced: true)
    static let configMaps = APIResource.configMaps

    /// A new client of the same server (another "process" in leader election tests).
    func newClient(metrics: MetricsRegistry? = nil) throws -> KubeClient {
        let configuration = try ClientConfiguration.load(kubeconfig: api.kubeconfigPath, environment: [:])
        return try KubeClient(configuration: configuration, observer: metrics?.restClientObserver())
    }

    func installWidgetCRD() async throws {
        let crd: JSONValue = [
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": ["name": "widgets.test.kubesnap.io"],
            "spec": [
                "group": "test.kubesnap.io", "scope": "Namespaced",
                "names": [
                    "plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList",
                ],
                "versions": [
                    [
                        "name": "v1", "served": true, "storage": true, "subresources": ["status": [:]],
                        "schema": [
                            "openAPIV3Schema": [
                                "type": "object",
                                "properties": [
                                    "spec": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                                    "status": [
                                        "type": "object", "x-kubernetes-preserve-unknown-fields": true,
                                    ],
                                ],
                            ]
                        ],
                    ]
                ],
            ],
        ]
        _ = try await client.create(.customResourceDefinitions, namespace: nil, crd)
        try await waitUntil("the widgets CRD to be served") {
            do {
                _ = try await client.list(Self.widgets, namespace: "default")
                return (true, "")
            } catch {
                return (false, "\(error)")
            }
        }
    }

    /// The API server's count of requests by verb and resource/subresource.
    func serverRequests(verb: String, resource: String, subresource: String = "") async throws -> Int {
        try await api.requestCount(verb: verb, resource: resource, subresource: subresource)
    }
}

func withCluster(_ body: (Cluster) async throws -> Void) async throws {
    let api = try await TestAPIServer.start()
    do {
        let metrics = MetricsRegistry()
        let configuration = try ClientConfiguration.load(kubeconfig: api.kubeconfigPath, environment: [:])
        let client = try KubeClient(configuration: configuration, observer: metrics.restClientObserver())
        try await body(Cluster(api: api, client: client, metrics: metrics))
    } catch {
        await api.stop()
        throw error
    }
    await api.stop()
}

func configMap(_ namespace: String, _ name: String, data: [String: String] = [:]) -> JSONValue {
    [
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": ["namespace": .string(namespace), "name": .string(name)],
        "data": .object(data.mapValues { .string($0) }),
    ]
}

func widget(_ namespace: String, _ name: String, size: Int64 = 1) -> JSONValue {
    [
        "apiVersion": "test.kubesnap.io/v1", "kind": "Widget",
        "metadata": ["namespace": .string(namespace), "name": .string(name)],
        "spec": ["size": .int(size)],
    ]
}

/// A thread-safe box for test observations.
final class Box<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: Value
    init(_ value: Value) { storage = value }
    var value: Value { update { $0 } }
    func update<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&storage)
    }
}

/// Runs `body` while `work` runs in a child task, then cancels `work`.
func whileRunning(_ work: @escaping @Sendable () async -> Void, _ body: () async throws -> Void) async throws
{
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await work() }
        do {
            try await body()
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension ReconcileFunction {
    /// A reconciler of keys (tests that only count or order reconciles).
    static func keys(_ body: @escaping @Sendable (ObjectKey) async throws -> ReconcileResult) -> ReconcileFunction {
        ReconcileFunction { object in
            try await body(ObjectKey(namespace: object.metadata.namespace, name: object.metadata.name ?? ""))
        }
    }
}
