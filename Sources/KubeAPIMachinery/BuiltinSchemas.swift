import KubeJSON

extension BuiltinResourceSchema {
    /// An object schema whose members are not described further (kept as given).
    static func open(_ description: String) -> JSONValue {
        ["type": "object", "description": .string(description), "x-kubernetes-preserve-unknown-fields": true]
    }
    static func string(_ description: String) -> JSONValue {
        ["type": "string", "description": .string(description)]
    }
    static func stringMap(_ description: String) -> JSONValue {
        ["type": "object", "description": .string(description), "additionalProperties": ["type": "string"]]
    }
    static func kind(_ description: String, _ properties: [String: JSONValue]) -> JSONValue {
        ["type": "object", "description": .string(description), "properties": .object(properties)]
    }
    static let rules: JSONValue = [
        "type": "array", "description": "Rules holds all the PolicyRules for this Role",
        "items": [
            "type": "object", "description": "PolicyRule holds information that describes a policy rule.",
            "properties": [
                "apiGroups": [
                    "type": "array", "items": ["type": "string"],
                    "description": "APIGroups is the name of the APIGroup that contains the resources.",
                ],
                "resources": [
                    "type": "array", "items": ["type": "string"],
                    "description": "Resources is a list of resources this rule applies to.",
                ],
                "resourceNames": [
                    "type": "array", "items": ["type": "string"],
                    "description":
                        "ResourceNames is an optional allow list of names that the rule applies to.",
                ],
                "verbs": [
                    "type": "array", "items": ["type": "string"],
                    "description":
                        "Verbs is a list of Verbs that apply to ALL the ResourceKinds contained in this rule.",
                ],
                "nonResourceURLs": [
                    "type": "array", "items": ["type": "string"],
                    "description":
                        "NonResourceURLs is a set of partial urls that a user should have access to.",
                ],
            ],
        ],
    ]
    static let subjects: JSONValue = [
        "type": "array", "description": "Subjects holds references to the objects the role applies to.",
        "items": open(
            "Subject contains a reference to the object or user identities a role binding applies to."),
    ]
    static let roleRef: JSONValue = [
        "type": "object",
        "description":
            "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.",
        "required": ["apiGroup", "kind", "name"],
        "properties": [
            "apiGroup": string("APIGroup is the group for the resource being referenced"),
            "kind": string("Kind is the type of resource being referenced"),
            "name": string("Name is the name of resource being referenced"),
        ],
    ]

    /// The built-in kinds kubesnap's API server serves, with minimal schemas.
    public static let all: [BuiltinResourceSchema] = [
        core(
            "Namespace", "namespaces", namespaced: false,
            kind(
                "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
                [
                    "spec": open("Spec defines the behavior of the Namespace."),
                    "status": open("Status describes the current status of a Namespace."),
                ])),
        core(
            "Secret", "secrets",
            kind(
                "Secret holds secret data of a certain type. The total bytes of the values in the Data field must be less than MaxSecretSize bytes.",
                [
                    "data": [
                        "type": "object", "additionalProperties": ["type": "string", "format": "byte"],
                        "description":
                            "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string.",
                    ],
                    "stringData": stringMap(
                        "stringData allows specifying non-binary secret data in string form. It is provided as a write-only input field for convenience."
                    ),
                    "type": string("Used to facilitate programmatic handling of secret data."),
                    "immutable": [
                        "type": "boolean",
                        "description":
                            "Immutable, if set to true, ensures that data stored in the Secret cannot be updated.",
                    ],
                ])),
        core(
            "ConfigMap", "configmaps",
            kind(
                "ConfigMap holds configuration data for pods to consume.",
                [
                    "data": stringMap("Data contains the configuration data."),
                    "binaryData": [
                        "type": "object", "additionalProperties": ["type": "string", "format": "byte"],
                        "description": "BinaryData contains the binary data.",
                    ],
                    "immutable": [
                        "type": "boolean",
                        "description":
                            "Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated.",
                    ],
                ])),
        core(
            "ServiceAccount", "serviceaccounts",
            kind(
                "ServiceAccount binds together: a name, understood by users, and perhaps by peripheral systems, for an identity; a principal that can be authenticated and authorized; a set of secrets.",
                [
                    "secrets": [
                        "type": "array", "items": open("ObjectReference"),
                        "description":
                            "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
                    ],
                    "imagePullSecrets": [
                        "type": "array", "items": open("LocalObjectReference"),
                        "description":
                            "ImagePullSecrets is a list of references to secrets in the same namespace to use for pulling any images in pods that reference this ServiceAccount.",
                    ],
                    "automountServiceAccountToken": [
                        "type": "boolean",
                        "description":
                            "AutomountServiceAccountToken indicates whether pods running as this service account should have an API token automatically mounted.",
                    ],
                ])),
        core(
            "Service", "services",
            kind(
                "Service is a named abstraction of software service (for example, mysql) consisting of local port (for example 3306) that the proxy listens on, and the selector that determines which pods will answer requests sent through the proxy.",
                [
                    "spec": open("Spec defines the behavior of a service."),
                    "status": open("Most recently observed status of the service."),
                ])),
        core(
            "Pod", "pods",
            kind(
                "Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts.",
                [
                    "spec": open("Specification of the desired behavior of the pod."),
                    "status": open("Most recently observed status of the pod."),
                ])),
        core(
            "Event", "events",
            kind(
                "Event is a report of an event somewhere in the cluster.",
                [
                    "involvedObject": open("The object that this event is about."),
                    "reason": string(
                        "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."
                    ),
                    "message": string("A human-readable description of the status of this operation."),
                    "type": string(
                        "Type of this event (Normal, Warning), new types could be added in the future"),
                    "count": [
                        "type": "integer", "format": "int32",
                        "description": "The number of times this event has occurred.",
                    ],
                    "firstTimestamp": [
                        "type": "string", "format": "date-time",
                        "description": "The time at which the event was first recorded.",
                    ],
                    "lastTimestamp": [
                        "type": "string", "format": "date-time",
                        "description":
                            "The time at which the most recent occurrence of this event was recorded.",
                    ],
                    "eventTime": [
                        "type": "string", "format": "date-time",
                        "description": "Time when this Event was first observed.",
                    ],
                    "source": open("The component reporting this event."),
                    "reportingComponent": string("Name of the controller that emitted this Event."),
                    "reportingInstance": string("ID of the controller instance."),
                    "action": string("What action was taken/failed regarding to the Regarding object."),
                    "related": open("Optional secondary object for more complex actions."),
                    "series": open("Data about the Event series this event represents."),
                ])),
        BuiltinResourceSchema(
            group: "coordination.k8s.io", version: "v1", kind: "Lease", resource: "leases", namespaced: true,
            definitionName: "io.k8s.api.coordination.v1.Lease",
            schema: kind(
                "Lease defines a lease concept.",
                [
                    "spec": kind(
                        "LeaseSpec is a specification of a Lease.",
                        [
                            "holderIdentity": string(
                                "holderIdentity contains the identity of the holder of a current lease."),
                            "leaseDurationSeconds": [
                                "type": "integer", "format": "int32",
                                "description":
                                    "leaseDurationSeconds is a duration that candidates for a lease need to wait to force acquire it.",
                            ],
                            "acquireTime": [
                                "type": "string", "format": "date-time",
                                "description": "acquireTime is a time when the current lease was acquired.",
                            ],
                            "renewTime": [
                                "type": "string", "format": "date-time",
                                "description":
                                    "renewTime is a time when the current holder of a lease has last updated the lease.",
                            ],
                            "leaseTransitions": [
                                "type": "integer", "format": "int32",
                                "description":
                                    "leaseTransitions is the number of transitions of a lease between holders.",
                            ],
                        ])
                ])),
        BuiltinResourceSchema(
            group: "batch", version: "v1", kind: "Job", resource: "jobs", namespaced: true,
            definitionName: "io.k8s.api.batch.v1.Job",
            schema: kind(
                "Job represents the configuration of a single job.",
                [
                    "spec": open("Specification of the desired behavior of a job."),
                    "status": open("Current status of a job."),
                ])),
        BuiltinResourceSchema(
            group: "apps", version: "v1", kind: "Deployment", resource: "deployments", namespaced: true,
            definitionName: "io.k8s.api.apps.v1.Deployment",
            schema: kind(
                "Deployment enables declarative updates for Pods and ReplicaSets.",
                [
                    "spec": open("Specification of the desired behavior of the Deployment."),
                    "status": open("Most recently observed status of the Deployment."),
                ])),
        rbac(
            "Role", "roles", namespaced: true,
            kind(
                "Role is a namespaced, logical grouping of PolicyRules that can be referenced as a unit by a RoleBinding.",
                ["rules": rules])),
        rbac(
            "ClusterRole", "clusterroles", namespaced: false,
            kind(
                "ClusterRole is a cluster level, logical grouping of PolicyRules that can be referenced as a unit by a RoleBinding or ClusterRoleBinding.",
                [
                    "rules": rules,
                    "aggregationRule": open(
                        "AggregationRule is an optional field that describes how to build the Rules for this ClusterRole."
                    ),
                ])),
        rbac(
            "RoleBinding", "rolebindings", namespaced: true,
            kind(
                "RoleBinding references a role, but does not contain it.",
                ["subjects": subjects, "roleRef": roleRef])),
        rbac(
            "ClusterRoleBinding", "clusterrolebindings", namespaced: false,
            kind(
                "ClusterRoleBinding references a ClusterRole, but not contain it.",
                ["subjects": subjects, "roleRef": roleRef])),
        review(
            "authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews",
            "SelfSubjectAccessReview checks whether or the current user can perform an action."),
        review(
            "authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews",
            "SubjectAccessReview checks whether or not a user or group can perform an action."),
        review(
            "authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreviews",
            "LocalSubjectAccessReview checks whether or not a user or group can perform an action in a given namespace.",
            namespaced: true),
        review(
            "authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews",
            "SelfSubjectRulesReview enumerates the set of actions the current user can perform within a namespace."),
        review(
            "authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews",
            "SelfSubjectReview contains the user information that the kube-apiserver has about the user making this request."),
        review(
            "authentication.k8s.io", "TokenReview", "tokenreviews",
            "TokenReview attempts to authenticate a token to a known user."),
        BuiltinResourceSchema(
            group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition",
            resource: "customresourcedefinitions", namespaced: false,
            definitionName:
                "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition",
            schema: kind(
                "CustomResourceDefinition represents a resource that should be exposed on the API server.  Its name MUST be in the format <.spec.name>.<.spec.group>.",
                [
                    "spec": open("spec describes how the user wants the resources to appear"),
                    "status": open("status indicates the actual state of the CustomResourceDefinition"),
                ])),
    ]

    static func core(_ kind: String, _ resource: String, namespaced: Bool = true, _ schema: JSONValue)
        -> BuiltinResourceSchema
    {
        BuiltinResourceSchema(
            group: "", version: "v1", kind: kind, resource: resource, namespaced: namespaced,
            definitionName: "io.k8s.api.core.v1.\(kind)", schema: schema)
    }
    /// A create-only review kind: a spec the caller fills in, a status the server does.
    static func review(_ group: String, _ kind: String, _ resource: String, _ description: String, namespaced: Bool = false)
        -> BuiltinResourceSchema
    {
        BuiltinResourceSchema(
            group: group, version: "v1", kind: kind, resource: resource, namespaced: namespaced,
            definitionName: "io.k8s.api.\(group.split(separator: ".")[0]).v1.\(kind)",
            schema: Self.kind(
                description,
                [
                    "spec": open("Spec holds information about the request being evaluated."),
                    "status": open("Status is filled in by the server."),
                ]))
    }
    static func rbac(_ kind: String, _ resource: String, namespaced: Bool, _ schema: JSONValue)
        -> BuiltinResourceSchema
    {
        BuiltinResourceSchema(
            group: "rbac.authorization.k8s.io", version: "v1", kind: kind, resource: resource,
            namespaced: namespaced,
            definitionName: "io.k8s.api.rbac.v1.\(kind)", schema: schema)
    }
}
