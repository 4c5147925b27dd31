import Foundation
import KubeJSON

// Namespaces: for a namespaced resource, get/create/update/patch/delete use the namespace
// passed, else the object's metadata.namespace (create/update), else the configuration's
// default namespace. list and watch with `namespace: nil` cover all namespaces. Cluster-scoped
// resources ignore the namespace.

extension KubeClient {
    func path(_ r: APIResource, namespace: String?, name: String? = nil, subresource: String? = nil) -> String
    {
        var path = r.groupVersionPath
        if r.namespaced, let namespace, !namespace.isEmpty {
            path += "/namespaces/\(percentEncode(namespace))"
        }
        path += "/\(r.resource)"
        if let name { path += "/\(percentEncode(name))" }
        if let subresource, !subresource.isEmpty { path += "/\(subresource)" }
        return path
    }

    func singleNamespace(_ r: APIResource, _ explicit: String?, object: JSONValue? = nil) -> String? {
        guard r.namespaced else { return nil }
        if let explicit, !explicit.isEmpty { return explicit }
        if let namespace = object?.namespace, !namespace.isEmpty { return namespace }
        return defaultNamespace
    }

    private static func requireName(_ name: String, _ verb: String) throws(KubeError) {
        if name.isEmpty { throw .invalidRequest("\(verb): a name is required") }
    }

    // MARK: Untyped

    /// GET one object (or its `subresource`, e.g. "status").
    public func get(_ r: APIResource, namespace: String?, name: String, subresource: String? = nil)
        async throws(KubeError) -> JSONValue
    {
        try Self.requireName(name, "get")
        return try await sendJSON(
            RESTRequest(
                method: "GET", verb: "get", resource: r, subresource: subresource,
                path: path(r, namespace: singleNamespace(r, namespace), name: name, subresource: subresource))
        )
    }

    /// One page of objects; `namespace: nil` lists all namespaces.
    public func list(_ r: APIResource, namespace: String?, options: ListOptions = .init())
        async throws(KubeError) -> ObjectList
    {
        let value = try await sendJSON(
            RESTRequest(
                method: "GET", verb: "list", resource: r, path: path(r, namespace: namespace),
                query: options.query))
        guard let items = value["items"].arrayValue ?? (value["items"].isNull ? [] : nil) else {
            throw .decoding("list \(r): items is not a list")
        }
        let metadata = value["metadata"]
        let continueToken = metadata["continue"].stringValue.flatMap { $0.isEmpty ? nil : $0 }
        return ObjectList(
            items: items, resourceVersion: metadata["resourceVersion"].stringValue ?? "",
            continueToken: continueToken,
            remainingItemCount: metadata["remainingItemCount"].intValue.map { Int($0) })
    }

    /// Every object, following continue tokens page by page (`options.limit` is the page size,
    /// 500 by default). If a continue token expires (410) the list restarts unpaginated, as
    /// client-go's pager does.
    public func listAll(_ r: APIResource, namespace: String?, options: ListOptions = .init())
        async throws(KubeError) -> ObjectList
    {
        var pageOptions = options
        if pageOptions.limit == nil { pageOptions.limit = 500 }
        var items: [JSONValue] = []
        var resourceVersion = ""
        while true {
            let page: ObjectList
            do {
                page = try await list(r, namespace: namespace, options: pageOptions)
            } catch let error where error.isGone && pageOptions.continueToken != nil {
                var full = options
                full.limit = nil
                full.continueToken = nil
                return try await list(r, namespace: namespace, options: full)
            }
            items.append(contentsOf: page.items)
            resourceVersion = page.resourceVersion
            guard let token = page.continueToken else { break }
            pageOptions.continueToken = token
            // A continued list must not repeat resourceVersion options.
            pageOptions.resourceVersion = nil
            pageOptions.resourceVersionMatch = nil
        }
        return ObjectList(items: items, resourceVersion: resourceVersion)
    }

    /// POST a new object. `metadata.generateName` works (the server picks the name).
    public func create(
        _ r: APIResource, namespace: String?, _ object: JSONValue, options: WriteOptions = .init()
    ) async throws(KubeError) -> JSONValue {
        var body = object
        if body["apiVersion"].isNull { body["apiVersion"] = .string(r.apiVersion) }
        if body["kind"].isNull { body["kind"] = .string(r.kind) }
        return try await sendJSON(
            RESTRequest(
                method: "POST", verb: "create", resource: r,
                path: path(r, namespace: singleNamespace(r, namespace, object: object)), query: options.query,
                body: body.serializedBytes(), contentType: "application/json"))
    }

    /// PUT the whole object (or its `subresource`); a stale metadata.resourceVersion is a 409
    /// Conflict (`isConflict`).
    public func update(
        _ r: APIResource, namespace: String?, _ object: JSONValue, subresource: String? = nil,
        options: WriteOptions = .init()
    ) async throws(KubeError) -> JSONValue {
        guard let name = object.name, !name.isEmpty else {
            throw .invalidRequest("update \(r): metadata.name is required")
        }
        var body = object
        if body["apiVersion"].isNull { body["apiVersion"] = .string(r.apiVersion) }
        if body["kind"].isNull { body["kind"] = .string(r.kind) }
        return try await sendJSON(
            RESTRequest(
                method: "PUT", verb: "update", resource: r, subresource: subresource,
                path: path(
                    r, namespace: singleNamespace(r, namespace, object: object), name: name,
                    subresource: subresource),
                query: options.query, body: body.serializedBytes(), contentType: "application/json"))
    }

    /// PATCH an object (or its `subresource`). `.apply` is server-side apply and needs
    /// `options.fieldManager`.
    public func patch(
        _ r: APIResource, namespace: String?, name: String, type: PatchType, _ patch: JSONValue,
        subresource: String? = nil, options: PatchOptions = .init()
    ) async throws(KubeError) -> JSONValue {
        try Self.requireName(name, "patch")
        if type == .apply && (options.fieldManager ?? "").isEmpty {
            throw .invalidRequest("patch \(r) \(name): server-side apply needs a fieldManager")
        }
        return try await sendJSON(
            RESTRequest(
                method: "PATCH", verb: "patch", resource: r, subresource: subresource,
                path: path(r, namespace: singleNamespace(r, namespace), name: name, subresource: subresource),
                query: options.query, body: patch.serializedBytes(), contentType: type.rawValue))
    }

    /// DELETE an object. Returns the object when the server answers with it (deletion pending
    /// on finalizers or foreground deletion), nil when it answers with a Status (gone).
    @discardableResult
    public func delete(_ r: APIResource, namespace: String?, name: String, options: DeleteOptions = .init())
        async throws(KubeError) -> JSONValue?
    {
        try Self.requireName(name, "delete")
        let value = try await sendJSON(
            RESTRequest(
                method: "DELETE", verb: "delete", resource: r,
                path: path(r, namespace: singleNamespace(r, namespace), name: name),
                body: options.body.serializedBytes(), contentType: "application/json"))
        if value["kind"].stringValue == "Status" { return nil }
        return value
    }

    /// DELETE a collection: every object of `r` in `namespace` (all namespaces with nil) that the
    /// selectors of `listOptions` match, in one request (client-go's `DeleteCollection`). Returns
    /// the objects as the server answered: those held by finalizers carry a deletionTimestamp.
    @discardableResult
    public func deleteCollection(
        _ r: APIResource, namespace: String?, listOptions: ListOptions = .init(), options: DeleteOptions = .init()
    ) async throws(KubeError) -> [JSONValue] {
        let value = try await sendJSON(
            RESTRequest(
                method: "DELETE", verb: "deletecollection", resource: r, path: path(r, namespace: namespace),
                query: listOptions.query, body: options.body.serializedBytes(), contentType: "application/json"))
        return value["items"].arrayValue ?? []
    }

    /// Watch events of a resource (`namespace: nil` for all namespaces). The request is sent
    /// when iteration starts.
    public func watch(_ r: APIResource, namespace: String?, options: WatchOptions = .init()) -> WatchStream {
        WatchStream(
            client: self,
            request: RESTRequest(
                method: "GET", verb: "watch", resource: r, path: path(r, namespace: namespace),
                query: options.query,
                isWatch: true))
    }

    /// GET any path (discovery, /version, /metrics of the built-in server) as JSON.
    public func getJSON(path: String) async throws(KubeError) -> JSONValue {
        try await sendJSON(RESTRequest(method: "GET", verb: "get", path: path))
    }

    // MARK: Typed

    static func encode<T: KubeResource>(_ object: T) throws(KubeError) -> JSONValue {
        var value: JSONValue
        do {
            value = try JSONValue(encoding: object)
        } catch {
            throw .invalidRequest("cannot encode \(T.apiResource.kind): \(error)")
        }
        if value["apiVersion"].isNull { value["apiVersion"] = .string(T.apiResource.apiVersion) }
        if value["kind"].isNull { value["kind"] = .string(T.apiResource.kind) }
        return value
    }

    static func decode<T: KubeResource>(_ value: JSONValue, as type: T.Type) throws(KubeError) -> T {
        do {
            return try value.decode(T.self)
        } catch {
            let key = value.namespace.map { "\($0)/" } ?? ""
            throw .decoding("cannot decode \(T.apiResource.kind) \(key)\(value.name ?? ""): \(error)")
        }
    }

    public func get<T: KubeResource>(_ type: T.Type, namespace: String? = nil, name: String)
        async throws(KubeError) -> T
    {
        try Self.decode(try await get(T.apiResource, namespace: namespace, name: name), as: T.self)
    }

    public func list<T: KubeResource>(
        _ type: T.Type, namespace: String? = nil, options: ListOptions = .init()
    ) async throws(KubeError) -> TypedList<T> {
        let page = try await list(T.apiResource, namespace: namespace, options: options)
        var items: [T] = []
        for item in page.items { items.append(try Self.decode(item, as: T.self)) }
        return TypedList(
            items: items, resourceVersion: page.resourceVersion, continueToken: page.continueToken)
    }

    public func listAll<T: KubeResource>(
        _ type: T.Type, namespace: String? = nil, options: ListOptions = .init()
    ) async throws(KubeError) -> TypedList<T> {
        let page = try await listAll(T.apiResource, namespace: namespace, options: options)
        var items: [T] = []
        for item in page.items { items.append(try Self.decode(item, as: T.self)) }
        return TypedList(items: items, resourceVersion: page.resourceVersion, continueToken: nil)
    }

    public func create<T: KubeResource>(_ object: T, options: WriteOptions = .init()) async throws(KubeError)
        -> T
    {
        let created = try await create(
            T.apiResource, namespace: object.metadata.namespace, try Self.encode(object), options: options)
        return try Self.decode(created, as: T.self)
    }

    public func update<T: KubeResource>(_ object: T, options: WriteOptions = .init()) async throws(KubeError)
        -> T
    {
        let updated = try await update(
            T.apiResource, namespace: object.metadata.namespace, try Self.encode(object), options: options)
        return try Self.decode(updated, as: T.self)
    }

    /// PUT the status subresource (only `status` changes on the server).
    public func updateStatus<T: KubeResource>(_ object: T, options: WriteOptions = .init())
        async throws(KubeError) -> T
    {
        let updated = try await update(
            T.apiResource, namespace: object.metadata.namespace, try Self.encode(object),
            subresource: "status", options: options)
        return try Self.decode(updated, as: T.self)
    }

    public func patch<T: KubeResource>(
        _ type: T.Type, namespace: String? = nil, name: String, patchType: PatchType, _ patch: JSONValue,
        subresource: String? = nil, options: PatchOptions = .init()
    ) async throws(KubeError) -> T {
        let patched = try await self.patch(
            T.apiResource, namespace: namespace, name: name, type: patchType, patch, subresource: subresource,
            options: options)
        return try Self.decode(patched, as: T.self)
    }

    @discardableResult
    public func delete<T: KubeResource>(
        _ type: T.Type, namespace: String? = nil, name: String, options: DeleteOptions = .init()
    ) async throws(KubeError) -> T? {
        guard let value = try await delete(T.apiResource, namespace: namespace, name: name, options: options)
        else { return nil }
        return try Self.decode(value, as: T.self)
    }

    public func watch<T: KubeResource>(
        _ type: T.Type, namespace: String? = nil, options: WatchOptions = .init()
    ) -> TypedWatchStream<T> {
        TypedWatchStream(base: watch(T.apiResource, namespace: namespace, options: options))
    }
}
