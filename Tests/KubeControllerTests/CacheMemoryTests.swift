import Foundation
import KubeJSON
import Testing

@testable import KubeController

@Suite struct CacheMemoryTests {
    /// Resident set size of this process, from /proc/self/statm (Linux); nil elsewhere.
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// A Snapshot as the API server returns it, managedFields included (about 1.3 KiB of JSON).
    static func snapshot(_ i: Int) -> JSONValue {
        [
            "apiVersion": "kubesnap.io/v1alpha1", "kind": "Snapshot",
            "metadata": [
                "name": .string("snapshot-\(i)"), "namespace": .string("ns-\(i % 50)"),
                "uid": .string(UUID().uuidString.lowercased()), "resourceVersion": .string("\(100_000 + i)"),
                "generation": 1, "creationTimestamp": "2026-11-22T10:00:00Z",
                "labels": [
                    "kubesnap.io/repository": .string("repo-\(i % 20)"),
                    "kubesnap.io/invoker-kind": "BackupSession",
                ],
                "finalizers": ["kubesnap.io/finalizer"],
                "managedFields": [
                    [
                        "manager": "kubectl-client-side-apply", "operation": "Update",
                        "apiVersion": "kubesnap.io/v1alpha1",
                        "time": "2026-11-22T10:00:00Z", "fieldsType": "FieldsV1",
                        "fieldsV1": [
                            "f:spec": [
                                "f:repository": [:], "f:source": ["f:path": [:]], "f:deletionPolicy": [:],
                            ]
                        ],
                    ]
                ],
            ],
            "spec": [
                "repository": .string("repo-\(i % 20)"), "source": ["path": "/data/app"],
                "deletionPolicy": "Delete",
            ],
            "status": [
                "phase": "Ready", "snapshotID": .string(String(repeating: "a1b2c3d4", count: 8)),
                "backendRepository": "local:/var/lib/kubesnap/repositories/demo/app", "sizeBytes": 1_482_752,
                "fileCount": 42,
                "verificationStatus": "OK", "observedGeneration": 1,
                "conditions": [
                    [
                        "type": "Ready", "status": "True", "reason": "Completed",
                        "message": "snapshot stored",
                        "lastTransitionTime": "2026-11-22T10:00:05Z", "observedGeneration": 1,
                    ]
                ],
            ],
        ]
    }

    /// The store keeps cold objects as compact JSON text of their typed form, not decoded: what
    /// it holds per object is that text's size (counted exactly), and the process's resident
    /// growth is printed (RSS is shared with tests running in parallel, so it is reported, and
    /// bounded only loosely).
    @Test func tenThousandCachedObjectsAreKeptAsCompactText() throws {
        // Decoding drops what the type does not hold (managedFields among it).
        let objects = (0..<10_000).map { Widget(Self.snapshot($0)) }
        #expect(objects[0].json["metadata"]["managedFields"].isNull)
        let start = Self.residentBytes()
        let store = Store<Widget>()
        store.addIndex("repository") { [$0.spec?["repository"].stringValue ?? ""] }
        for object in objects { store.upsert(object) }
        let afterStore = Self.residentBytes()
        #expect(store.count == 10_000)
        #expect(store.keys(index: "repository", value: "repo-3").count == 500)
        #expect(store.get(ObjectKey(namespace: "ns-7", name: "snapshot-7")) == objects[7])
        // The last `hotCapacity` written are kept parsed, not yet serialized; the read above made
        // snapshot-7 hot too (cooling the oldest of them), keeping its text. Every other object
        // is its compact JSON, exactly.
        #expect(store.hotCount == Store<Widget>.hotCapacity)
        let withText = objects.enumerated().filter { index, object in
            index == 7 || !store.isHot(ObjectKey(namespace: object.metadata.namespace, name: object.metadata.name ?? ""))
        }
        #expect(withText.count == 10_000 - Store<Widget>.hotCapacity + 1)
        let textBytes = withText.reduce(0) { $0 + $1.element.json.serializedBytes().count }
        #expect(store.storedTextBytes == textBytes, "the store keeps exactly each cold object's compact JSON")
        if let start, let afterStore {
            let storeMiB = Double(afterStore - start) / 1_048_576
            print(
                "10,000 Snapshots: \(objects.reduce(0) { $0 + $1.json.serializedBytes().count } / 10_000) bytes of JSON each; store grew the process by \(storeMiB) MiB")
            #expect(storeMiB < 100)
        }
    }
}
