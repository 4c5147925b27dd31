import KubeJSON

/// The built-in controllers kube-apiserver's companions run (garbage collector, namespace and
/// CRD cleanup), done inline after each write so their effects are ordered with it.
extension ObjectStore {
    func runReactions() {
        var steps = 0
        while !reactions.isEmpty && steps < 10_000_000 {
            steps += 1
            let reaction = reactions.removeFirst()
            switch reaction {
            case .removed(let ref, let object): objectRemoved(ref, object)
            case .markedDeleting(let ref): objectMarkedDeleting(ref)
            case .checkNamespace(let ns): finishNamespaceIfEmpty(ns)
            case .checkForeground(let uid): finishForegroundIfDone(uid)
            case .checkCRD(let name): finishCRDIfEmpty(name)
            }
        }
    }

    private func info(forKey key: String) -> ResourceInfo? { registry[key] }

    /// Where the owner an ownerReference names lives (nil when its kind is not served).
    private func ownerRef(_ owner: JSONValue, dependentNamespace: String) -> (ObjectRef, ResourceInfo)? {
        guard let apiVersion = owner["apiVersion"].stringValue, let kind = owner["kind"].stringValue,
            let name = owner["name"].stringValue
        else { return nil }
        let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
        guard let info = resource(group: group, kind: kind) else { return nil }
        return (ObjectRef(resourceKey: info.key, namespace: info.namespaced ? dependentNamespace : "", name: name), info)
    }

    private func objectRemoved(_ ref: ObjectRef, _ object: JSONValue) {
        let uid = object.uid ?? ""
        // Background garbage collection of dependents whose owners are all gone.
        for dependent in dependents[uid] ?? [] {
            guard let depInfo = info(forKey: dependent.resourceKey),
                let dep = self.object(dependent.resourceKey, namespace: dependent.namespace, name: dependent.name)
            else { continue }
            let liveOwners = (dep["metadata"]["ownerReferences"].arrayValue ?? []).filter { owner in
                guard owner["uid"].stringValue != uid, let (oref, _) = ownerRef(owner, dependentNamespace: dependent.namespace),
                    let o = self.object(oref.resourceKey, namespace: oref.namespace, name: oref.name)
                else { return false }
                return o.uid == owner["uid"].stringValue
            }
            if liveOwners.isEmpty {
                _ = try? delete(depInfo, namespace: dependent.namespace, name: dependent.name, options: .init())
            }
        }
        // Owners waiting in foreground deletion for this dependent.
        for owner in object["metadata"]["ownerReferences"].arrayValue ?? [] {
            if let ownerUID = owner["uid"].stringValue { reactions.append(.checkForeground(ownerUID)) }
        }
        if !ref.namespace.isEmpty { reactions.append(.checkNamespace(ref.namespace)) }
        if let crdName = registry[ref.resourceKey]?.crdName { reactions.append(.checkCRD(crdName)) }
    }

    private func objectMarkedDeleting(_ ref: ObjectRef) {
        guard let info = info(forKey: ref.resourceKey),
            let object = self.object(ref.resourceKey, namespace: ref.namespace, name: ref.name)
        else { return }
        let uid = object.uid ?? ""
        let finalizers = (object["metadata"]["finalizers"].arrayValue ?? []).compactMap(\.stringValue)
        if info.key == BuiltinResources.namespaceKey {
            for (key, table) in tables where key != BuiltinResources.namespaceKey {
                guard let resourceInfo = registry[key], resourceInfo.namespaced else { continue }
                for name in (table[ref.name] ?? [:]).keys {
                    _ = try? delete(resourceInfo, namespace: ref.name, name: name, options: .init())
                }
            }
            reactions.append(.checkNamespace(ref.name))
        }
        if info.key == BuiltinResources.crdKey, let served = ResourceInfo.fromCRD(object), let servedInfo = registry[served.key] {
            for (ns, table) in tables[served.key] ?? [:] {
                for name in table.keys {
                    _ = try? delete(servedInfo, namespace: ns, name: name, options: .init())
                }
            }
            reactions.append(.checkCRD(ref.name))
        }
        if finalizers.contains("orphan") {
            for dependent in dependents[uid] ?? [] {
                guard let depInfo = self.info(forKey: dependent.resourceKey),
                    var dep = self.object(dependent.resourceKey, namespace: dependent.namespace, name: dependent.name)
                else { continue }
                let old = dep
                let owners = (dep["metadata"]["ownerReferences"].arrayValue ?? []).filter { $0["uid"].stringValue != uid }
                if owners.isEmpty {
                    dep["metadata"].removeValue(forKey: "ownerReferences")
                } else {
                    dep["metadata"]["ownerReferences"] = .array(owners)
                }
                commit("MODIFIED", depInfo, dep, old: old)
            }
            removeFinalizer("orphan", from: ref)
        }
        if finalizers.contains("foregroundDeletion") {
            for dependent in dependents[uid] ?? [] {
                guard let depInfo = self.info(forKey: dependent.resourceKey) else { continue }
                _ = try? delete(depInfo, namespace: dependent.namespace, name: dependent.name, options: .init(propagationPolicy: "Foreground"))
            }
            foregroundOwners[uid] = ref
            reactions.append(.checkForeground(uid))
        }
    }

    /// Removes one finalizer (metadata or, for "kubernetes" on a namespace, spec); deletes the
    /// object when it was the last one of a deleting object.
    func removeFinalizer(_ finalizer: String, from ref: ObjectRef) {
        guard let info = info(forKey: ref.resourceKey),
            var object = self.object(ref.resourceKey, namespace: ref.namespace, name: ref.name)
        else { return }
        let old = object
        if info.key == BuiltinResources.namespaceKey && finalizer == "kubernetes" {
            object["spec"]["finalizers"] = .array((object["spec"]["finalizers"].arrayValue ?? []).filter { $0.stringValue != finalizer })
        } else {
            let remaining = (object["metadata"]["finalizers"].arrayValue ?? []).filter { $0.stringValue != finalizer }
            if remaining.isEmpty {
                object["metadata"].removeValue(forKey: "finalizers")
            } else {
                object["metadata"]["finalizers"] = .array(remaining)
            }
        }
        guard object != old else { return }
        if !object["metadata"]["deletionTimestamp"].isNull && !hasPendingFinalizers(object, info) {
            let stored = commit("DELETED", info, object, old: old)
            reactions.append(.removed(ref, stored.object))
        } else {
            commit("MODIFIED", info, object, old: old)
        }
    }

    private func finishNamespaceIfEmpty(_ ns: String) {
        guard let namespace = object(BuiltinResources.namespaceKey, namespace: "", name: ns),
            !namespace["metadata"]["deletionTimestamp"].isNull
        else { return }
        for (key, table) in tables where key != BuiltinResources.namespaceKey {
            if let objects = table[ns], !objects.isEmpty { return }
        }
        removeFinalizer("kubernetes", from: ObjectRef(resourceKey: BuiltinResources.namespaceKey, namespace: "", name: ns))
    }

    private func finishForegroundIfDone(_ uid: String) {
        guard dependents[uid]?.isEmpty ?? true, let ref = foregroundOwners.removeValue(forKey: uid) else { return }
        removeFinalizer("foregroundDeletion", from: ref)
    }

    private func finishCRDIfEmpty(_ crdName: String) {
        guard let crd = object(BuiltinResources.crdKey, namespace: "", name: crdName),
            !crd["metadata"]["deletionTimestamp"].isNull, let served = ResourceInfo.fromCRD(crd)
        else { return }
        if let table = tables[served.key], table.values.contains(where: { !$0.isEmpty }) { return }
        removeFinalizer("customresourcecleanup.apiextensions.k8s.io", from: ObjectRef(resourceKey: BuiltinResources.crdKey, namespace: "", name: crdName))
    }

    /// The first start's namespaces; and, after a restart, resumes the cleanup of objects that
    /// were being deleted (terminating namespaces, CRDs, orphan/foreground owners).
    func bootstrap() -> UInt64 {
        for (key, table) in tables {
            for (ns, objects) in table {
                for (name, object) in objects where !object["metadata"]["deletionTimestamp"].isNull {
                    reactions.append(.markedDeleting(ObjectRef(resourceKey: key, namespace: ns, name: name)))
                }
            }
        }
        runReactions()
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] where object(BuiltinResources.namespaceKey, namespace: "", name: ns) == nil {
            if let info = registry[BuiltinResources.namespaceKey] {
                _ = try? create(info, version: "v1", namespace: nil, ["metadata": ["name": .string(ns)]], options: .init())
            }
        }
        return lastTicket
    }
}
