// swift-tools-version:6.1
import PackageDescription

// Module layering (a module never imports one above it):
//   CCurl / CYAML / CKubeCrypto   C system libraries and small shims
//   KubeJSON                      JSON value, JSON and YAML reading/writing, patches, JSONPath
//   ChildProcesses                spawning children (posix_spawn) and running one to completion
//   CurlTransport                 HTTP over libcurl: one curl_multi loop on its own thread
//   KubeClient                    kubeconfig, auth, REST verbs, watch (over CurlTransport)
//   KubeController                informers, cache, work queue, reconcile loop, finalizers, leases
//   KubesnapAPI / Restic          kubesnap's API types (CRD-backed) / the restic data mover
//                                 (restic CLI adapter, repository format, S3 listing)
//   Kubesnap                      the three reconcilers
//   KubesnapCLI (kubesnap)        operator | apiserver | dev
//   KubeAPIMachinery              schemas, validation, defaulting, patches, tables, OpenAPI (server side)
//   KubeAPIServer                 built-in API server; stands beside the stack, shares only KubeJSON
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6)
]

let package = Package(
    name: "kubesnap",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kubesnap", targets: ["KubesnapCLI"]),
        .executable(name: "kubesnap-bench", targets: ["KubesnapBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(
            name: "CYAML", path: "Sources/CYAML", pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]),
        .target(
            name: "CKubeCrypto", path: "Sources/CKubeCrypto",
            linkerSettings: [.linkedLibrary("crypto")]),
        .target(
            name: "KubeJSON", dependencies: ["CYAML"], swiftSettings: swiftSettings),
        .target(name: "CurlTransport", dependencies: ["CCurl"], swiftSettings: swiftSettings),
        .target(
            name: "KubeClient",
            dependencies: [
                "CurlTransport", "KubeJSON", "ChildProcesses",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "KubeController",
            dependencies: [
                "KubeClient", "KubeJSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "KubesnapAPI", dependencies: ["KubeJSON"], swiftSettings: swiftSettings),
        .target(name: "ChildProcesses", swiftSettings: swiftSettings),
        .target(
            name: "Restic",
            dependencies: [
                "CKubeCrypto", "ChildProcesses", "CurlTransport", "KubeJSON",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "Kubesnap",
            dependencies: [
                "KubesnapAPI", "Restic", "KubeController", "KubeClient", "KubeJSON",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "KubeAPIMachinery", dependencies: ["KubeJSON"], swiftSettings: swiftSettings),
        .target(
            name: "KubeAPIServer",
            dependencies: [
                "KubeJSON", "KubeAPIMachinery", "CKubeCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "KubesnapCLI",
            dependencies: [
                "Kubesnap", "KubesnapAPI", "KubeAPIServer", "KubeController", "KubeClient", "KubeJSON",
                "ChildProcesses",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .executableTarget(
            name: "KubesnapBench",
            dependencies: [
                "KubeClient", "KubeJSON", "KubesnapAPI", "KubeTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings),
        .target(
            name: "KubeTestSupport",
            dependencies: ["KubeAPIServer", "ChildProcesses"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubeJSONTests", dependencies: ["KubeJSON", "KubeTestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubeClientTests",
            dependencies: [
                "KubeClient", "CurlTransport", "KubeJSON", "KubeAPIServer", "KubeTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubeAPIMachineryTests", dependencies: ["KubeAPIMachinery", "KubeJSON", "KubeTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubeAPIServerTests",
            dependencies: ["KubeAPIServer", "KubeJSON", "KubeTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubeControllerTests",
            dependencies: ["KubeController", "KubeClient", "KubeAPIServer", "KubeTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubesnapAPITests", dependencies: ["KubesnapAPI", "KubeJSON", "KubeTestSupport"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "ChildProcessesTests", dependencies: ["ChildProcesses"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ResticTests", dependencies: ["Restic", "KubeTestSupport", "ChildProcesses", "KubeJSON"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubesnapTests",
            dependencies: ["Kubesnap", "KubeController", "KubeClient", "KubeAPIServer", "KubeTestSupport", "ChildProcesses"],
            swiftSettings: swiftSettings),
        .testTarget(
            name: "KubesnapE2ETests",
            dependencies: ["KubesnapCLI", "KubeClient", "KubeJSON", "KubesnapAPI", "KubeTestSupport"],
            swiftSettings: swiftSettings),
    ]
)
