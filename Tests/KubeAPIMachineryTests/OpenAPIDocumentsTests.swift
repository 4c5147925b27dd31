import KubeAPIMachinery
import KubeJSON
import Testing

@Suite struct OpenAPIDocumentsTests {
    let crd = json(
        #"""
        {"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"snapshots.kubesnap.io"},
         "spec":{"group":"kubesnap.io","scope":"Namespaced","names":{"kind":"Snapshot","plural":"snapshots","singular":"snapshot"},
          "versions":[{"name":"v1alpha1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","description":"A Snapshot is one point-in-time copy.",
            "properties":{"spec":{"type":"object","description":"What to snapshot.","properties":{"repository":{"type":"string","description":"The Repository to store into."},
              "schedule":{"type":"object","nullable":true,"x-kubernetes-validations":[{"rule":"true"}]}}},
              "status":{"type":"object","properties":{"phase":{"type":"string"}}}}}}}]}}
        """#)

    @Test func v3DocumentHasSchemaAndPatchPathWithFieldValidation() {
        let doc = OpenAPIDocuments.v3(
            groupVersion: "kubesnap.io/v1alpha1", crds: [crd], builtins: BuiltinResourceSchema.all)
        let schema = doc["components"]["schemas"]["io.kubesnap.v1alpha1.Snapshot"]
        #expect(
            schema["x-kubernetes-group-version-kind"]
                == json(#"[{"group":"kubesnap.io","version":"v1alpha1","kind":"Snapshot"}]"#))
        #expect(
            schema["properties"]["spec"]["properties"]["repository"]["description"]
                == "The Repository to store into.")
        #expect(
            schema["properties"]["metadata"]["allOf"][0]["$ref"]
                == "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        #expect(
            doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["type"]
                == "object")
        let patch = doc["paths"]["/apis/kubesnap.io/v1alpha1/namespaces/{namespace}/snapshots/{name}"][
            "patch"]
        #expect(
            patch["x-kubernetes-group-version-kind"]
                == json(#"{"group":"kubesnap.io","version":"v1alpha1","kind":"Snapshot"}"#))
        #expect(
            patch["parameters"].arrayValue?.contains {
                $0["name"] == "fieldValidation" && $0["in"] == "query"
            } == true)
        // Only the requested group-version.
        #expect(doc["components"]["schemas"]["io.k8s.api.core.v1.Secret"] == .null)
    }

    @Test func coreV1DocumentServesNamespacePatchForCRDFallback() {
        let doc = OpenAPIDocuments.v3(groupVersion: "v1", crds: [crd], builtins: BuiltinResourceSchema.all)
        let patch = doc["paths"]["/api/v1/namespaces/{name}"]["patch"]
        #expect(
            patch["x-kubernetes-group-version-kind"]
                == json(#"{"group":"","version":"v1","kind":"Namespace"}"#))
        #expect(patch["parameters"].arrayValue?.contains { $0["name"] == "fieldValidation" } == true)
        #expect(
            doc["components"]["schemas"]["io.k8s.api.core.v1.Secret"]["properties"]["data"]["type"]
                == "object")
        #expect(doc["paths"]["/api/v1/namespaces/{namespace}/secrets/{name}"]["patch"].isNull == false)
    }

    @Test func v3IndexKeysAndHashes() {
        let gvs = OpenAPIDocuments.groupVersions(crds: [crd], builtins: BuiltinResourceSchema.all)
        #expect(
            gvs.contains("v1") && gvs.contains("apps/v1") && gvs.contains("kubesnap.io/v1alpha1")
                && gvs.contains("rbac.authorization.k8s.io/v1"))
        var docs: [String: JSONValue] = [:]
        for gv in gvs {
            docs[gv] = OpenAPIDocuments.v3(groupVersion: gv, crds: [crd], builtins: BuiltinResourceSchema.all)
        }
        let index = OpenAPIDocuments.v3Index(documents: docs)
        let url = index["paths"]["apis/kubesnap.io/v1alpha1"]["serverRelativeURL"].stringValue ?? ""
        #expect(url.hasPrefix("/openapi/v3/apis/kubesnap.io/v1alpha1?hash="))
        #expect(
            index["paths"]["api/v1"]["serverRelativeURL"].stringValue?.hasPrefix("/openapi/v3/api/v1?hash=")
                == true)
        // The hash follows the content.
        var changed = docs
        changed["kubesnap.io/v1alpha1"]?["info"]["version"] = "other"
        #expect(
            OpenAPIDocuments.v3Index(documents: changed)["paths"]["apis/kubesnap.io/v1alpha1"]
                != index["paths"]["apis/kubesnap.io/v1alpha1"])
        #expect(
            OpenAPIDocuments.v3Index(groupVersions: ["v1"])["paths"]["api/v1"]["serverRelativeURL"]
                .stringValue?.hasPrefix("/openapi/v3/api/v1?hash=") == true)
    }

    @Test func v2DefinitionsAreSwagger2() {
        let doc = OpenAPIDocuments.v2(crds: [crd], builtins: BuiltinResourceSchema.all)
        #expect(doc["swagger"] == "2.0")
        let snapshot = doc["definitions"]["io.kubesnap.v1alpha1.Snapshot"]
        #expect(snapshot["x-kubernetes-group-version-kind"][0]["kind"] == "Snapshot")
        #expect(
            snapshot["properties"]["metadata"]["allOf"][0]["$ref"]
                == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
        #expect(snapshot["properties"]["spec"]["properties"]["schedule"]["nullable"] == .null)
        #expect(snapshot["properties"]["spec"]["properties"]["schedule"]["x-kubernetes-validations"] == .null)
        #expect(
            doc["definitions"]["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"][0]["group"]
                == "apps")
        let param = doc["paths"]["/apis/kubesnap.io/v1alpha1/namespaces/{namespace}/snapshots/{name}"][
            "patch"]["parameters"].arrayValue?.first { $0["name"] == "fieldValidation" }
        #expect(param?["type"] == "string")
    }
}
